"""Kafka plumbing: topic names, the envelope, producer/consumer lifecycle, request-reply, DLQ.

Everything a gateway or connector needs is importable from here; the submodules are
implementation detail.
"""

from bus.admin import TopicChange, TopicSpec, ensure_topics, probe_cluster, wait_for_cluster
from bus.broker_health import BrokerHealth, ProduceHealth
from bus.consumer import BusConsumer
from bus.dead_letter import DeadLetterPublisher, dead_letter_headers, dead_letter_topic_for
from bus.envelope import Envelope
from bus.envelope_headers import MessageKind, ReplyStatus
from bus.errors import (
    BrokerUnavailableError,
    BusError,
    ClientStateError,
    DuplicatedHeaderError,
    EnvelopeError,
    InvalidIdentifierError,
    InvalidNameError,
    InvalidTopicNameError,
    KafkaAccessDeniedError,
    KafkaClientError,
    MalformedHeaderError,
    MissingHeaderError,
    OffsetCommitError,
    PublishError,
    RecordTooLargeError,
    RequestReplyError,
    RequestTimeoutError,
    TooManyPendingRequestsError,
    TopicProvisioningError,
    UnknownPartitionError,
)
from bus.ids import (
    ExchangeId,
    GatewayGroupId,
    MemberId,
    ServiceId,
    new_exchange_id,
    parse_exchange_id,
    parse_gateway_group_id,
    parse_member_id,
    parse_service_id,
    uuid7,
)
from bus.logs import configure_logging, drop_personal_data
from bus.outcomes import Ack, DeadLetter, Outcome, RecordHandler, Retry
from bus.producer import BusProducer
from bus.provisioning import catalogue_topic_specs
from bus.records import Delivery, InboundRecord
from bus.reply_router import Reply, ReplyRouter, ReplySink
from bus.requester import OutboundRequest, Requester
from bus.responder import ReplyHandler, ReplyOutcome, Responder
from bus.settings import KafkaSettings
from bus.subject_binding import SubjectMismatch, check_subject_binding, subject_binding
from bus.topics import (
    AUDIT_TOPIC,
    AuditTopic,
    DeadLetterTopic,
    ReplyTopic,
    RequestTopic,
    Topic,
    TopicName,
    parse_topic,
)
from bus.traceparent import TraceParent, new_traceparent, parse_traceparent, trace_id_of

__all__ = [
    "AUDIT_TOPIC",
    "Ack",
    "AuditTopic",
    "BrokerHealth",
    "BrokerUnavailableError",
    "BusConsumer",
    "BusError",
    "BusProducer",
    "ClientStateError",
    "DeadLetter",
    "DeadLetterPublisher",
    "DeadLetterTopic",
    "Delivery",
    "DuplicatedHeaderError",
    "Envelope",
    "EnvelopeError",
    "ExchangeId",
    "GatewayGroupId",
    "InboundRecord",
    "InvalidIdentifierError",
    "InvalidNameError",
    "InvalidTopicNameError",
    "KafkaAccessDeniedError",
    "KafkaClientError",
    "KafkaSettings",
    "MalformedHeaderError",
    "MemberId",
    "MessageKind",
    "MissingHeaderError",
    "OffsetCommitError",
    "OutboundRequest",
    "Outcome",
    "ProduceHealth",
    "PublishError",
    "RecordHandler",
    "RecordTooLargeError",
    "Reply",
    "ReplyHandler",
    "ReplyOutcome",
    "ReplyRouter",
    "ReplySink",
    "ReplyStatus",
    "ReplyTopic",
    "RequestReplyError",
    "RequestTimeoutError",
    "RequestTopic",
    "Requester",
    "Responder",
    "Retry",
    "ServiceId",
    "SubjectMismatch",
    "TooManyPendingRequestsError",
    "Topic",
    "TopicChange",
    "TopicName",
    "TopicProvisioningError",
    "TopicSpec",
    "TraceParent",
    "UnknownPartitionError",
    "catalogue_topic_specs",
    "check_subject_binding",
    "configure_logging",
    "dead_letter_headers",
    "dead_letter_topic_for",
    "drop_personal_data",
    "ensure_topics",
    "new_exchange_id",
    "new_traceparent",
    "parse_exchange_id",
    "parse_gateway_group_id",
    "parse_member_id",
    "parse_service_id",
    "parse_topic",
    "parse_traceparent",
    "probe_cluster",
    "subject_binding",
    "trace_id_of",
    "uuid7",
    "wait_for_cluster",
]
