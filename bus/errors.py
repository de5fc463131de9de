"""The bus family of errors (rooted at ``contracts.errors.InteropError``).

::

    InteropError
    └── BusError                           bus: topics, envelope, Kafka client, request-reply
        ├── InvalidNameError               a name or id does not follow the naming rules
        │   ├── InvalidTopicNameError      not one of interop.req/rep/audit/dlq topic forms
        │   └── InvalidIdentifierError     a service, member or gateway-group id is malformed
        ├── EnvelopeError                  a record's headers are not a valid envelope (.header)
        │   ├── MissingHeaderError         a required header is absent
        │   ├── DuplicatedHeaderError      a header appears more than once
        │   └── MalformedHeaderError       a header's bytes are not a valid value for it
        ├── KafkaClientError               aiokafka failed in a way not listed below
        │   ├── BrokerUnavailableError     the broker did not answer (retriable)
        │   ├── KafkaAccessDeniedError     authentication or authorisation refused
        │   ├── RecordTooLargeError        the record exceeds the broker's or client's limit
        │   ├── PublishError               a record was not confirmed by the broker (retriable)
        │   ├── OffsetCommitError          an offset commit was refused (retriable: redelivery)
        │   └── InstanceFencedError        another consumer took this one's group.instance.id
        ├── TopicProvisioningError         a topic cannot be made to match its spec
        │   └── TopicChangeRefusedError    (bus.topic_apply) a change apply must not make
        ├── TopicsConfigError              (bus.provisioning) a topics file is invalid
        ├── KafkaSecurityConfigError       (bus.kafka_security) TLS/SASL settings are invalid
        ├── AclAdminError                  (bus.acl_admin) the broker's ACLs cannot be read/changed
        ├── MemberKeysError                (bus.member_keys) a members file's keys are invalid
        ├── SigningKeyError                (bus.record_signing) a private key cannot be loaded
        ├── RecordSignatureError           (bus.record_signing) a record's signature fails
        ├── FieldEncryptionError           (bus.field_encryption) a personal field won't seal/open
        ├── RequestRejectedError           (bus.request_signing) a request fails verification
        ├── UnknownPartitionError          a record is sent to a partition the topic lacks
        ├── ClientStateError               a client was used before start() or after stop()
        ├── RequestReplyError              the request-reply exchange failed
        │   ├── RequestTimeoutError        no reply before the deadline (retriable)
        │   └── TooManyPendingRequestsError  the requester's pending bound is reached (retriable)
        └── AuditError                     (bus.audit.errors) the audit family, drawn there

Errors raised by aiokafka are translated into this family in ``bus/kafka_errors.py`` at
each place the bus calls aiokafka, never further out: callers of the bus see ``BusError``s
only. Every class has a stable ``code`` (it appears in dead-letter headers and at the HTTP
edge, so it never changes once published) and a ``retriable`` flag.
"""

from __future__ import annotations

from contracts.errors import InteropError

__all__ = [
    "BrokerUnavailableError",
    "BusError",
    "ClientStateError",
    "DuplicatedHeaderError",
    "EnvelopeError",
    "InstanceFencedError",
    "InvalidIdentifierError",
    "InvalidNameError",
    "InvalidTopicNameError",
    "KafkaAccessDeniedError",
    "KafkaClientError",
    "MalformedHeaderError",
    "MissingHeaderError",
    "OffsetCommitError",
    "PublishError",
    "RecordTooLargeError",
    "RequestReplyError",
    "RequestTimeoutError",
    "TooManyPendingRequestsError",
    "TopicProvisioningError",
    "UnknownPartitionError",
]


class BusError(InteropError):
    """A Kafka plumbing problem: topics, envelope, clients, request-reply."""

    code = "BUS_ERROR"


# -- names ---------------------------------------------------------------------------------
class InvalidNameError(BusError):
    """A name or identifier does not follow interop-bus's naming rules."""

    code = "BUS_INVALID_NAME"


class InvalidTopicNameError(InvalidNameError):
    """A topic name is not one of the forms interop-bus uses (or breaks Kafka's limits)."""

    code = "BUS_INVALID_TOPIC_NAME"


class InvalidIdentifierError(InvalidNameError):
    """A service id, member id or gateway-group id is malformed."""

    code = "BUS_INVALID_IDENTIFIER"


# -- envelope ------------------------------------------------------------------------------
class EnvelopeError(BusError):
    """A record's headers do not form a valid envelope; ``header`` names the culprit."""

    code = "BUS_ENVELOPE_INVALID"

    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"header {header!r}: {reason}")
        self.header = header
        self.reason = reason


class MissingHeaderError(EnvelopeError):
    """A header the envelope requires is absent."""

    code = "BUS_ENVELOPE_HEADER_MISSING"

    def __init__(self, header: str, reason: str = "required header is missing") -> None:
        super().__init__(header, reason)


class DuplicatedHeaderError(EnvelopeError):
    """A header appears more than once: which copy is meant cannot be told, so none is."""

    code = "BUS_ENVELOPE_HEADER_DUPLICATED"

    def __init__(self, header: str, reason: str = "header appears more than once") -> None:
        super().__init__(header, reason)


class MalformedHeaderError(EnvelopeError):
    """A header's value is not valid for it (encoding, length, control characters, format)."""

    code = "BUS_ENVELOPE_HEADER_MALFORMED"


# -- Kafka client --------------------------------------------------------------------------
class KafkaClientError(BusError):
    """aiokafka failed in a way that has no more specific class below."""

    code = "BUS_KAFKA_CLIENT_ERROR"


class BrokerUnavailableError(KafkaClientError):
    """The Kafka broker did not answer in time; trying again later may succeed."""

    code = "BROKER_UNAVAILABLE"
    retriable = True


class KafkaAccessDeniedError(KafkaClientError):
    """The broker refused authentication or authorisation; retrying will not help."""

    code = "BUS_KAFKA_ACCESS_DENIED"


class RecordTooLargeError(KafkaClientError):
    """The record is larger than the producer or the broker accepts."""

    code = "BUS_RECORD_TOO_LARGE"


class PublishError(KafkaClientError):
    """The broker did not confirm a record; it may or may not have been written."""

    code = "BUS_PUBLISH_FAILED"
    retriable = True


class OffsetCommitError(KafkaClientError):
    """An offset commit was refused (typically a rebalance); the records are redelivered."""

    code = "BUS_OFFSET_COMMIT_FAILED"
    retriable = True


class InstanceFencedError(KafkaClientError):
    """The broker fenced this consumer (FENCED_INSTANCE_ID, KIP-345): a member with the same
    ``group.instance.id`` joined after it. Two running processes share one static identity,
    a misconfiguration that retrying cannot fix."""

    code = "BUS_INSTANCE_FENCED"


# -- administration and lifecycle -------------------------------------------------------
class TopicProvisioningError(BusError):
    """A topic cannot be created or made to match its spec (e.g. it has more partitions)."""

    code = "BUS_TOPIC_PROVISIONING_FAILED"


class UnknownPartitionError(BusError):
    """A record was addressed to a partition the topic does not have."""

    code = "BUS_UNKNOWN_PARTITION"


class ClientStateError(BusError):
    """A bus client was used before ``start()`` or after ``stop()``."""

    code = "BUS_CLIENT_STATE"


# -- request-reply -------------------------------------------------------------------------
class RequestReplyError(BusError):
    """A request-reply exchange failed."""

    code = "BUS_REQUEST_REPLY_FAILED"


class RequestTimeoutError(RequestReplyError):
    """No reply arrived before the request's deadline; a later reply will be dropped."""

    code = "BUS_REQUEST_TIMEOUT"
    retriable = True

    def __init__(self, exchange_id: str, timeout_s: float) -> None:
        super().__init__(f"no reply to exchange {exchange_id} within {timeout_s:.3f}s")
        self.exchange_id = exchange_id
        self.timeout_s = timeout_s


class TooManyPendingRequestsError(RequestReplyError):
    """The requester already waits for its maximum number of replies: back off."""

    code = "BUS_TOO_MANY_PENDING_REQUESTS"
    retriable = True
