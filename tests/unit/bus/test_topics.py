"""Topic names: parse and format both ways, refuse everything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus import (
    AUDIT_TOPIC,
    DeadLetterTopic,
    InvalidTopicNameError,
    ReplyTopic,
    RequestTopic,
    dead_letter_topic_for,
    parse_gateway_group_id,
    parse_service_id,
    parse_topic,
)
from bus.ids import GatewayGroupId, ServiceId

SERVICE = parse_service_id("register.residence-certificate")


@pytest.mark.parametrize(
    ("name", "topic"),
    [
        ("interop.req.register.residence-certificate.v1", RequestTopic(SERVICE, 1)),
        ("interop.dlq.register.residence-certificate.v12", DeadLetterTopic(SERVICE, 12)),
        ("interop.rep.gw.madrid-1", ReplyTopic(parse_gateway_group_id("gw.madrid-1"))),
        ("interop.audit", AUDIT_TOPIC),
    ],
)
def test_each_topic_form_parses_and_formats_back(name: str, topic: object) -> None:
    """parse_topic(name) gives the typed topic and str(topic) gives the name again."""
    assert parse_topic(name) == topic
    assert str(topic) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "interop.req.register.v1",
        "interop.req.register.residence-certificate",
        "interop.req.register.residence-certificate.v0",
        "interop.req.register.residence-certificate.v01",
        "interop.req.Register.x.v1",
        "interop.rep.",
        "interop.rep.GW",
        "interop.rep.gw..a",
        "interop.audit.extra",
        "interop.other.x",
        "payments",
        "interop.req.a.b.v1\n",
        "interop.req.a.b c.v1",
        "interop.rep." + "a" * 240,
        ".",
        "..",
    ],
)
def test_invalid_topic_names_are_refused_with_a_clear_error(name: str) -> None:
    """Names outside the four forms (or Kafka's limits) raise InvalidTopicNameError."""
    with pytest.raises(InvalidTopicNameError) as caught:
        parse_topic(name)
    assert caught.value.message


def test_typed_topics_validate_their_parts() -> None:
    """Constructing a topic from bad parts fails as a topic-name error, not later in Kafka."""
    with pytest.raises(InvalidTopicNameError):
        RequestTopic(ServiceId("no-dot"), 1)
    with pytest.raises(InvalidTopicNameError):
        RequestTopic(SERVICE, 0)
    with pytest.raises(InvalidTopicNameError):
        RequestTopic(SERVICE, True)
    with pytest.raises(InvalidTopicNameError):
        ReplyTopic(GatewayGroupId("Upper"))


def test_dead_letter_topic_is_derived_from_the_request_topic() -> None:
    """interop.req.X.vN dead-letters to interop.dlq.X.vN; other topics have none."""
    assert dead_letter_topic_for("interop.req.register.residence-certificate.v3") == (
        DeadLetterTopic(SERVICE, 3)
    )
    with pytest.raises(InvalidTopicNameError):
        dead_letter_topic_for("interop.audit")


_segment = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@given(domain=_segment, service=_segment, major=st.integers(1, 9999))
def test_request_and_dead_letter_topics_round_trip(domain: str, service: str, major: int) -> None:
    """Every valid (service, major) formats to a name that parses back to the same topic."""
    request = RequestTopic(parse_service_id(f"{domain}.{service}"), major)
    assert parse_topic(request.name) == request
    assert parse_topic(request.dead_letter.name) == request.dead_letter
