# Minimal typed surface of aiokafka's admin client that interop-bus uses (bus/admin.py).
from typing import Any

from aiokafka.protocol.admin import Request
from aiokafka.structs import OffsetAndMetadata
from aiokafka.structs import TopicPartition as TopicPartition

class NewTopic:
    name: str
    num_partitions: int
    replication_factor: int
    topic_configs: dict[str, str]
    def __init__(
        self,
        name: str,
        num_partitions: int,
        replication_factor: int,
        replica_assignments: dict[int, list[int]] | None = ...,
        topic_configs: dict[str, str] | None = ...,
    ) -> None: ...

class NewPartitions:
    def __init__(self, total_count: int, new_assignments: list[list[int]] | None = ...) -> None: ...

class AIOKafkaAdminClient:
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
    async def start(self) -> None: ...
    # Private in aiokafka, but its only way to send a request it has no method for (ACLs).
    async def _send_request(self, request: Request, node_id: int | None = ...) -> Any: ...
    async def close(self) -> None: ...
    async def describe_cluster(self) -> dict[str, Any]: ...
    async def list_topics(self) -> list[str]: ...
    async def describe_topics(self, topics: list[str] | None = ...) -> list[dict[str, Any]]: ...
    async def create_topics(
        self, new_topics: list[NewTopic], timeout_ms: int | None = ..., validate_only: bool = ...
    ) -> Any: ...
    async def delete_topics(self, topics: list[str], timeout_ms: int | None = ...) -> Any: ...
    async def create_partitions(
        self,
        topic_partitions: dict[str, NewPartitions],
        timeout_ms: int | None = ...,
        validate_only: bool = ...,
    ) -> Any: ...
    async def describe_configs(
        self, config_resources: list[Any], include_synonyms: bool = ...
    ) -> list[Any]: ...
    async def alter_configs(self, config_resources: list[Any]) -> list[Any]: ...
    async def list_consumer_group_offsets(
        self,
        group_id: str,
        group_coordinator_id: int | None = ...,
        partitions: list[TopicPartition] | None = ...,
    ) -> dict[TopicPartition, OffsetAndMetadata]: ...
