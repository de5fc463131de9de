"""Topic names as typed values, parsed and formatted both ways.

interop-bus uses exactly four topic forms::

    interop.req.<domain>.<service>.v<major>     requests for one major of a service
    interop.rep.<gateway-group>                 replies to one group of gateway replicas
    interop.audit                               the audit log (one partition: total order)
    interop.dlq.<domain>.<service>.v<major>     dead letters of a request topic

Every other name is refused with ``InvalidTopicNameError``, so a typo cannot create or read
a stray topic. ``str(topic)`` and ``topic.name`` give the Kafka name; ``parse_topic`` goes
back. Kafka's own limits (at most 249 characters of ``[a-zA-Z0-9._-]``) hold for every form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Final, NewType

from bus.errors import InvalidIdentifierError, InvalidTopicNameError
from bus.ids import (
    GatewayGroupId,
    ServiceId,
    parse_gateway_group_id,
    parse_major_version,
    parse_service_id,
)

__all__ = [
    "AUDIT_QUARANTINE_TOPIC",
    "AUDIT_TOPIC",
    "KAFKA_MAX_TOPIC_LENGTH",
    "AuditQuarantineTopic",
    "AuditTopic",
    "DeadLetterTopic",
    "ReplyTopic",
    "RequestTopic",
    "Topic",
    "TopicName",
    "check_kafka_topic_name",
    "parse_topic",
]

TopicName = NewType("TopicName", str)

KAFKA_MAX_TOPIC_LENGTH: Final = 249
_KAFKA_LEGAL_RE: Final = re.compile(r"[a-zA-Z0-9._-]+")
_VERSIONED_RE: Final = re.compile(r"(?P<service>.+)\.v(?P<major>[0-9]+)")


def check_kafka_topic_name(text: str) -> TopicName:
    """Apply Kafka's own rules (length, alphabet, not ``.``/``..``) to any topic name."""
    shown = repr(text[:80])
    if not text or len(text) > KAFKA_MAX_TOPIC_LENGTH:
        raise InvalidTopicNameError(
            f"topic name {shown} must have 1..{KAFKA_MAX_TOPIC_LENGTH} characters"
        )
    if _KAFKA_LEGAL_RE.fullmatch(text) is None or text in {".", ".."}:
        raise InvalidTopicNameError(f"topic name {shown} may only use [a-zA-Z0-9._-]")
    return TopicName(text)


@dataclass(frozen=True, slots=True)
class _ServiceMajorTopic:
    """``<PREFIX><service>.v<major>``: the shape shared by request and dead-letter topics."""

    PREFIX: ClassVar[str]
    service: ServiceId
    major: int

    def __post_init__(self) -> None:
        _check_versioned(self.PREFIX, self.service, self.major)

    @property
    def name(self) -> TopicName:
        return check_kafka_topic_name(f"{self.PREFIX}{self.service}.v{self.major}")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class RequestTopic(_ServiceMajorTopic):
    """``interop.req.<service>.v<major>``: requests for one major version of a service."""

    PREFIX: ClassVar[str] = "interop.req."

    @property
    def dead_letter(self) -> DeadLetterTopic:
        """Where records of this topic that cannot be handled are parked."""
        return DeadLetterTopic(self.service, self.major)


@dataclass(frozen=True, slots=True)
class DeadLetterTopic(_ServiceMajorTopic):
    """``interop.dlq.<service>.v<major>``: dead letters of the matching request topic."""

    PREFIX: ClassVar[str] = "interop.dlq."


@dataclass(frozen=True, slots=True)
class ReplyTopic:
    """``interop.rep.<gateway-group>``: replies to the gateways of one group."""

    PREFIX: ClassVar[str] = "interop.rep."
    gateway_group: GatewayGroupId

    def __post_init__(self) -> None:
        try:
            parse_gateway_group_id(self.gateway_group)
        except InvalidIdentifierError as exc:
            raise InvalidTopicNameError(f"reply topic: {exc.message}") from exc
        check_kafka_topic_name(f"{self.PREFIX}{self.gateway_group}")

    @property
    def name(self) -> TopicName:
        return TopicName(f"{self.PREFIX}{self.gateway_group}")

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class AuditTopic:
    """``interop.audit``: every audit event, in one total order."""

    NAME: ClassVar[str] = "interop.audit"

    @property
    def name(self) -> TopicName:
        return TopicName(self.NAME)

    def __str__(self) -> str:
        return self.name


AUDIT_TOPIC: Final = AuditTopic()


@dataclass(frozen=True, slots=True)
class AuditQuarantineTopic:
    """``interop.audit.quarantine``: audit records the indexer refused (unsigned, forged,
    not the actor's to write, oversized), with dead-letter headers; never in the log."""

    NAME: ClassVar[str] = "interop.audit.quarantine"

    @property
    def name(self) -> TopicName:
        return TopicName(self.NAME)

    def __str__(self) -> str:
        return self.name


AUDIT_QUARANTINE_TOPIC: Final = AuditQuarantineTopic()

Topic = RequestTopic | ReplyTopic | AuditTopic | DeadLetterTopic | AuditQuarantineTopic


def parse_topic(text: str) -> Topic:
    """Parse a Kafka topic name into the interop-bus topic it names, or refuse it."""
    check_kafka_topic_name(text)
    if text == AuditTopic.NAME:
        return AUDIT_TOPIC
    if text == AuditQuarantineTopic.NAME:
        return AUDIT_QUARANTINE_TOPIC
    if text.startswith(ReplyTopic.PREFIX):
        return ReplyTopic(GatewayGroupId(text.removeprefix(ReplyTopic.PREFIX)))
    for kind in (RequestTopic, DeadLetterTopic):
        if text.startswith(kind.PREFIX):
            service, major = _parse_versioned(text, text.removeprefix(kind.PREFIX))
            return kind(service, major)
    raise InvalidTopicNameError(
        f"topic name {text[:80]!r} is not interop.req.*, interop.rep.*, interop.dlq.* "
        "or interop.audit"
    )


def _parse_versioned(text: str, rest: str) -> tuple[ServiceId, int]:
    match = _VERSIONED_RE.fullmatch(rest)
    if match is None:
        raise InvalidTopicNameError(f"topic name {text[:80]!r} does not end in .v<major>")
    try:
        return parse_service_id(match["service"]), parse_major_version(match["major"])
    except InvalidIdentifierError as exc:
        raise InvalidTopicNameError(f"topic name {text[:80]!r}: {exc.message}") from exc


def _check_versioned(prefix: str, service: str, major: int) -> None:
    # bool is an int: refuse True as a major version explicitly.
    if isinstance(major, bool) or not isinstance(major, int):
        raise InvalidTopicNameError(f"{prefix}*: major version must be an int")
    try:
        parse_service_id(service)
        parse_major_version(str(major))
    except InvalidIdentifierError as exc:
        raise InvalidTopicNameError(f"{prefix}*: {exc.message}") from exc
