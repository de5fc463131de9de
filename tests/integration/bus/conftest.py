"""Fixtures of the bus integration tests: settings for the real broker and fresh topics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from bus import (
    DeadLetterTopic,
    KafkaSettings,
    ReplyTopic,
    RequestTopic,
    TopicSpec,
    ensure_topics,
    parse_gateway_group_id,
    parse_service_id,
)
from tests.integration.bus.kafka_helpers import settings_for

REQUEST_PARTITIONS = 3
REPLY_PARTITIONS = 4


@dataclass(frozen=True)
class BusTopics:
    """The topics of one test: a request topic, its dead-letter topic and a reply topic."""

    request: RequestTopic
    dead_letter: DeadLetterTopic
    reply: ReplyTopic


@pytest.fixture
def settings(kafka_bootstrap: str) -> KafkaSettings:
    """Client settings for the session's broker."""
    return settings_for(kafka_bootstrap)


@pytest.fixture
async def topics(settings: KafkaSettings, unique_name: Callable[[str], str]) -> BusTopics:
    """Fresh request (3 partitions), dead-letter and reply (4 partitions) topics."""
    request = RequestTopic(parse_service_id(f"it.{unique_name('svc')}"), 1)
    reply = ReplyTopic(parse_gateway_group_id(unique_name("gw")))
    await ensure_topics(
        settings,
        [
            TopicSpec(request, REQUEST_PARTITIONS, 1),
            TopicSpec(request.dead_letter, 1, 1),
            TopicSpec(reply, REPLY_PARTITIONS, 1),
        ],
    )
    return BusTopics(request, request.dead_letter, reply)
