# Typed surface of aiokafka's low-level client that interop-bus uses
# (bus/replication_health.py: every broker asked whether it answers, then one that does
# asked for metadata and configs).
from typing import Any

from aiokafka.cluster import ClusterMetadata

class AIOKafkaClient:
    cluster: ClusterMetadata
    def __init__(
        self,
        *,
        bootstrap_servers: str | list[str] = ...,
        client_id: str = ...,
        request_timeout_ms: int = ...,
        retry_backoff_ms: int = ...,
        metadata_max_age_ms: int = ...,
        security_protocol: str = ...,
        ssl_context: Any = ...,
        sasl_mechanism: str = ...,
        sasl_plain_username: str | None = ...,
        sasl_plain_password: str | None = ...,
    ) -> None: ...
    async def bootstrap(self) -> None: ...
    async def ready(self, node_id: int) -> bool: ...
    async def send(self, node_id: int, request: Any) -> Any: ...
    async def close(self) -> None: ...
