"""Broker conformance: the Kafka behaviours the services rely on, pinned against a real broker."""
