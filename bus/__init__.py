"""Kafka plumbing: topic names, the envelope, producer/consumer lifecycle, request-reply, DLQ,
member keys and record signatures.

Everything the other packages need is importable from here (the audit log from
``bus.audit``); the submodules are implementation detail, and
``tests/unit/test_package_boundaries.py`` keeps it so. SQL persistence is not Kafka
plumbing: it lives in ``storage``.
"""

from bus.acl_admin import (
    ACL_MANAGED_PREFIX,
    AclAdminError,
    apply_acls,
    create_acls,
    delete_acls,
    describe_acls,
)
from bus.acl_apply import (
    AclBinding,
    AclOperation,
    AclPlan,
    AclResource,
    PatternType,
    derive_acl_bindings,
    plan_acls,
)
from bus.acl_apply import user as kafka_principal
from bus.admin import (
    TopicChange,
    TopicSpec,
    admin_client,
    ensure_topics,
    probe_cluster,
    wait_for_cluster,
)
from bus.broker_health import BrokerHealth, ProduceHealth
from bus.broker_wait import (
    BrokerWait,
    start_or_keep_trying,
    start_when_broker_answers,
    unless_stopped,
)
from bus.consumer import BusConsumer
from bus.dead_letter import (
    DeadLetterPublisher,
    dead_letter_copy,
    dead_letter_headers,
    dead_letter_topic_for,
)
from bus.envelope import Envelope
from bus.envelope_headers import REQUEST_DIGEST_HEADER, MessageKind, ReplyStatus
from bus.errors import (
    BrokerUnavailableError,
    BusError,
    ClientStateError,
    DuplicatedHeaderError,
    EnvelopeError,
    InstanceFencedError,
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
from bus.field_encryption import (
    CIPHERTEXT_PREFIX,
    FieldEncryptionError,
    FieldOpener,
    FieldSealer,
    RecipientKey,
    encryption_key_text,
    load_encryption_private_key,
    load_encryption_public_key,
)
from bus.header_values import check_code, check_text, format_time
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
from bus.kafka_errors import KAFKA_FAILURES
from bus.kafka_security import kafka_client_security
from bus.logs import configure_logging, drop_personal_data
from bus.member_keys import (
    EncryptionKey,
    MemberKey,
    MemberKeys,
    MemberKeysError,
    current_encryption_key,
    load_member_keys,
)
from bus.outcomes import Ack, DeadLetter, Outcome, RecordHandler, Retry
from bus.periodic import PeriodicTask
from bus.process_gc import freeze_startup_objects
from bus.producer import BusProducer
from bus.provisioning import (
    TopicsConfig,
    catalogue_topic_specs,
    deployment_topic_specs,
    load_topics_config,
)
from bus.record_signing import (
    RecordSignatureError,
    RecordSigner,
    SigningKeyError,
    check_key_id,
    load_private_key,
    load_private_key_file,
    load_public_key,
    private_key_text,
    public_key_text,
    request_digest,
)
from bus.records import Delivery, InboundRecord
from bus.replication_health import ReplicationHealth, ReplicationState, ReplicationStatus
from bus.reply_router import Reply, ReplyRouter, ReplySink
from bus.request_signing import RejectReason, RequestRejectedError, RequestSigner, RequestVerifier
from bus.requester import OutboundRequest, Requester
from bus.responder import ReplyHandler, ReplyOutcome, Responder
from bus.settings import KafkaSettings
from bus.signed_time import reply_time_problem
from bus.subject_binding import SubjectMismatch, check_subject_binding, subject_binding
from bus.tasks import cancel_and_wait
from bus.topic_apply import TopicActionKind, TopicPlan, apply_topics
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
    "ACL_MANAGED_PREFIX",
    "AUDIT_TOPIC",
    "CIPHERTEXT_PREFIX",
    "KAFKA_FAILURES",
    "REQUEST_DIGEST_HEADER",
    "Ack",
    "AclAdminError",
    "AclBinding",
    "AclOperation",
    "AclPlan",
    "AclResource",
    "AuditTopic",
    "BrokerHealth",
    "BrokerUnavailableError",
    "BrokerWait",
    "BusConsumer",
    "BusError",
    "BusProducer",
    "ClientStateError",
    "DeadLetter",
    "DeadLetterPublisher",
    "DeadLetterTopic",
    "Delivery",
    "DuplicatedHeaderError",
    "EncryptionKey",
    "Envelope",
    "EnvelopeError",
    "ExchangeId",
    "FieldEncryptionError",
    "FieldOpener",
    "FieldSealer",
    "GatewayGroupId",
    "InboundRecord",
    "InstanceFencedError",
    "InvalidIdentifierError",
    "InvalidNameError",
    "InvalidTopicNameError",
    "KafkaAccessDeniedError",
    "KafkaClientError",
    "KafkaSettings",
    "MalformedHeaderError",
    "MemberId",
    "MemberKey",
    "MemberKeys",
    "MemberKeysError",
    "MessageKind",
    "MissingHeaderError",
    "OffsetCommitError",
    "OutboundRequest",
    "Outcome",
    "PatternType",
    "PeriodicTask",
    "ProduceHealth",
    "PublishError",
    "RecipientKey",
    "RecordHandler",
    "RecordSignatureError",
    "RecordSigner",
    "RecordTooLargeError",
    "RejectReason",
    "ReplicationHealth",
    "ReplicationState",
    "ReplicationStatus",
    "Reply",
    "ReplyHandler",
    "ReplyOutcome",
    "ReplyRouter",
    "ReplySink",
    "ReplyStatus",
    "ReplyTopic",
    "RequestRejectedError",
    "RequestReplyError",
    "RequestSigner",
    "RequestTimeoutError",
    "RequestTopic",
    "RequestVerifier",
    "Requester",
    "Responder",
    "Retry",
    "ServiceId",
    "SigningKeyError",
    "SubjectMismatch",
    "TooManyPendingRequestsError",
    "Topic",
    "TopicActionKind",
    "TopicChange",
    "TopicName",
    "TopicPlan",
    "TopicProvisioningError",
    "TopicSpec",
    "TopicsConfig",
    "TraceParent",
    "UnknownPartitionError",
    "admin_client",
    "apply_acls",
    "apply_topics",
    "cancel_and_wait",
    "catalogue_topic_specs",
    "check_code",
    "check_key_id",
    "check_subject_binding",
    "check_text",
    "configure_logging",
    "create_acls",
    "current_encryption_key",
    "dead_letter_copy",
    "dead_letter_headers",
    "dead_letter_topic_for",
    "delete_acls",
    "deployment_topic_specs",
    "derive_acl_bindings",
    "describe_acls",
    "drop_personal_data",
    "encryption_key_text",
    "ensure_topics",
    "format_time",
    "freeze_startup_objects",
    "kafka_client_security",
    "kafka_principal",
    "load_encryption_private_key",
    "load_encryption_public_key",
    "load_member_keys",
    "load_private_key",
    "load_private_key_file",
    "load_public_key",
    "load_topics_config",
    "new_exchange_id",
    "new_traceparent",
    "parse_exchange_id",
    "parse_gateway_group_id",
    "parse_member_id",
    "parse_service_id",
    "parse_topic",
    "parse_traceparent",
    "plan_acls",
    "private_key_text",
    "probe_cluster",
    "public_key_text",
    "reply_time_problem",
    "request_digest",
    "start_or_keep_trying",
    "start_when_broker_answers",
    "subject_binding",
    "trace_id_of",
    "unless_stopped",
    "uuid7",
    "wait_for_cluster",
]
