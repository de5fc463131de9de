# Typed surface of aiokafka's cluster metadata (bus/replication_health.py).
from typing import NamedTuple

class BrokerMetadata(NamedTuple):
    nodeId: int
    host: str
    port: int
    rack: str | None

class ClusterMetadata:
    def brokers(self) -> set[BrokerMetadata]: ...
