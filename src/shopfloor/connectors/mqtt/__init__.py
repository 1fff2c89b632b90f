"""MQTT: ``<prefix>/<sensor path>`` topics with plain or JSON payloads, and Sparkplug B."""
