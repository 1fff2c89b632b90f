"""OPC-UA: subscriptions (or polling) of a server's nodes, stored through the batcher."""

from shopfloor.connectors.opcua.client import OpcUaConnector

__all__ = ["OpcUaConnector"]
