"""``InboundRecord`` from aiokafka's record: whose time ``timestamp_ms`` is."""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord

from bus import InboundRecord


@pytest.mark.parametrize(("timestamp_type", "by_broker"), [(0, False), (1, True)])
def test_the_timestamp_is_the_brokers_only_on_a_log_append_time_topic(
    timestamp_type: int, by_broker: bool
) -> None:
    """Type 1 (LogAppendTime): the broker set it on append; type 0 (CreateTime): the
    producer chose it, and a verifier must not lean on it."""
    consumed: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic="interop.audit",
        partition=0,
        offset=7,
        timestamp=1_780_000_000_000,
        timestamp_type=timestamp_type,
        key=None,
        value=b"v",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=1,
        headers=[("h", b"x")],
    )
    record = InboundRecord.from_consumer_record(consumed)
    assert record.appended_by_broker is by_broker
    assert (record.timestamp_ms, record.offset, record.headers) == (
        1_780_000_000_000,
        7,
        (("h", b"x"),),
    )
