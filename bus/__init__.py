"""Kafka plumbing: topic names, the envelope, producer/consumer lifecycle, request-reply, DLQ."""

__all__: list[str] = []
