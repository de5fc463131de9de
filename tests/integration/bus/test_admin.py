"""Topic provisioning against the real broker."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bus import (
    KafkaSettings,
    RequestTopic,
    TopicChange,
    TopicProvisioningError,
    TopicSpec,
    ensure_topics,
    parse_service_id,
)
from tests.integration.bus.kafka_helpers import end_offsets


async def test_ensure_topics_creates_keeps_grows_and_refuses_shrinking(
    settings: KafkaSettings, unique_name: Callable[[str], str]
) -> None:
    """Creation is idempotent, growth adds partitions, a shrink is refused with a clear error."""
    topic = RequestTopic(parse_service_id(f"it.{unique_name('adm')}"), 2)
    name = topic.name

    assert await ensure_topics(settings, [TopicSpec(topic, 2, 1)]) == {name: TopicChange.CREATED}
    assert await ensure_topics(settings, [TopicSpec(topic, 2, 1)]) == {name: TopicChange.UNCHANGED}
    assert await ensure_topics(settings, [TopicSpec(topic, 3, 1)]) == {name: TopicChange.GROWN}
    assert sorted(await end_offsets(settings, name)) == [0, 1, 2]

    with pytest.raises(TopicProvisioningError, match="3 partitions and its spec says 1"):
        await ensure_topics(settings, [TopicSpec(topic, 1, 1)])
