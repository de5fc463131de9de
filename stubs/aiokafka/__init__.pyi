# Minimal hand-written stubs: aiokafka ships no type information (no py.typed).
# Only what interop-bus calls is declared; extend as the bus grows.
import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, Literal

from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.structs import ConsumerRecord as ConsumerRecord
from aiokafka.structs import OffsetAndMetadata, RecordMetadata
from aiokafka.structs import TopicPartition as TopicPartition

__version__: str

class AIOKafkaProducer:
    def __init__(
        self,
        *,
        bootstrap_servers: str | list[str] = ...,
        client_id: str | None = ...,
        metadata_max_age_ms: int = ...,
        request_timeout_ms: int = ...,
        acks: Literal[0, 1, "all"] = ...,
        compression_type: Literal["gzip", "snappy", "lz4", "zstd"] | None = ...,
        max_batch_size: int = ...,
        max_request_size: int = ...,
        linger_ms: int = ...,
        retry_backoff_ms: int = ...,
        security_protocol: str = ...,
        ssl_context: Any = ...,
        connections_max_idle_ms: int = ...,
        enable_idempotence: bool = ...,
        transactional_id: str | None = ...,
        sasl_mechanism: str = ...,
        sasl_plain_username: str | None = ...,
        sasl_plain_password: str | None = ...,
    ) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def flush(self) -> None: ...
    async def partitions_for(self, topic: str) -> set[int]: ...
    async def send(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        partition: int | None = ...,
        timestamp_ms: int | None = ...,
        headers: Sequence[tuple[str, bytes]] | None = ...,
    ) -> asyncio.Future[RecordMetadata]: ...
    async def send_and_wait(
        self,
        topic: str,
        value: bytes | None = ...,
        key: bytes | None = ...,
        partition: int | None = ...,
        timestamp_ms: int | None = ...,
        headers: Sequence[tuple[str, bytes]] | None = ...,
    ) -> RecordMetadata: ...

class AIOKafkaConsumer:
    def __init__(
        self,
        *topics: str,
        bootstrap_servers: str | list[str] = ...,
        client_id: str = ...,
        group_id: str | None = ...,
        group_instance_id: str | None = ...,
        fetch_max_wait_ms: int = ...,
        fetch_max_bytes: int = ...,
        fetch_min_bytes: int = ...,
        max_partition_fetch_bytes: int = ...,
        request_timeout_ms: int = ...,
        retry_backoff_ms: int = ...,
        auto_offset_reset: Literal["earliest", "latest", "none"] = ...,
        enable_auto_commit: bool = ...,
        auto_commit_interval_ms: int = ...,
        check_crcs: bool = ...,
        metadata_max_age_ms: int = ...,
        max_poll_interval_ms: int = ...,
        rebalance_timeout_ms: int | None = ...,
        session_timeout_ms: int = ...,
        heartbeat_interval_ms: int = ...,
        consumer_timeout_ms: int = ...,
        max_poll_records: int | None = ...,
        security_protocol: str = ...,
        ssl_context: Any = ...,
        exclude_internal_topics: bool = ...,
        connections_max_idle_ms: int = ...,
        isolation_level: Literal["read_uncommitted", "read_committed"] = ...,
        sasl_mechanism: str = ...,
        sasl_plain_username: str | None = ...,
        sasl_plain_password: str | None = ...,
    ) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    def subscribe(
        self,
        topics: Iterable[str] = ...,
        pattern: str | None = ...,
        listener: ConsumerRebalanceListener | None = ...,
    ) -> None: ...
    def unsubscribe(self) -> None: ...
    def assign(self, partitions: Iterable[TopicPartition]) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    def partitions_for_topic(self, topic: str) -> set[int] | None: ...
    async def topics(self) -> set[str]: ...
    async def position(self, partition: TopicPartition) -> int: ...
    async def committed(self, partition: TopicPartition) -> int | None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    async def seek_to_end(self, *partitions: TopicPartition) -> None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...
    async def seek_to_committed(self, *partitions: TopicPartition) -> dict[TopicPartition, int]: ...
    async def end_offsets(
        self, partitions: Iterable[TopicPartition]
    ) -> dict[TopicPartition, int]: ...
    async def commit(
        self, offsets: dict[TopicPartition, int | OffsetAndMetadata] | None = ...
    ) -> None: ...
    async def getone(self, *partitions: TopicPartition) -> ConsumerRecord[bytes, bytes]: ...
    async def getmany(
        self,
        *partitions: TopicPartition,
        timeout_ms: int = ...,
        max_records: int | None = ...,
    ) -> dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]: ...
    def pause(self, *partitions: TopicPartition) -> None: ...
    def resume(self, *partitions: TopicPartition) -> None: ...
    def paused(self) -> set[TopicPartition]: ...
