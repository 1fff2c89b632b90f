"""Connectors: machines that speak MQTT (plain or Sparkplug B) and OPC-UA, fed into the same
durable ingest path as ``POST /readings``."""
