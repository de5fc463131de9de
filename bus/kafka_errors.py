"""Translation of aiokafka's exceptions into the ``BusError`` family.

Every exception class in ``aiokafka.errors`` is listed here explicitly, in one of a few
categories; ``tests/unit/bus/test_kafka_errors.py`` fails when aiokafka grows a class that
is not listed, so an upgrade cannot silently route a new failure to the wrong category.
The bus calls :func:`translate_kafka_error` at each place it calls aiokafka
(``raise translate_kafka_error(exc, ...) from exc``) and nowhere else.

aiokafka 0.14's table of broker error codes stops at 79, so FENCED_INSTANCE_ID (82, KIP-345)
would reach us as ``UnknownError`` and could not be told apart from any other surprise:
this module teaches aiokafka that one code (:class:`FencedInstanceIdError`).
"""

from __future__ import annotations

from typing import Final

from aiokafka import errors as ke

from bus.errors import (
    BrokerUnavailableError,
    BusError,
    InstanceFencedError,
    KafkaAccessDeniedError,
    KafkaClientError,
    OffsetCommitError,
    PublishError,
    RecordTooLargeError,
)

__all__ = [
    "KAFKA_ERROR_CATEGORIES",
    "KAFKA_FAILURES",
    "FencedInstanceIdError",
    "leaves_producer_usable",
    "translate_kafka_error",
]

# The broker or the route to it is (perhaps briefly) not there: trying again may succeed.
_UNAVAILABLE: Final = (
    ke.NoBrokersAvailable,
    ke.NodeNotReadyError,
    ke.KafkaConnectionError,
    ke.KafkaUnavailableError,
    ke.KafkaTimeoutError,
    ke.RequestTimedOutError,
    ke.Cancelled,
    ke.TooManyInFlightRequests,
    ke.StaleMetadata,
    ke.MetadataEmptyBrokerList,
    ke.LeaderNotAvailableError,
    ke.NotLeaderForPartitionError,
    ke.BrokerNotAvailableError,
    ke.ReplicaNotAvailableError,
    ke.GroupLoadInProgressError,
    ke.CoordinatorLoadInProgressError,
    ke.GroupCoordinatorNotAvailableError,
    ke.CoordinatorNotAvailableError,
    ke.NotCoordinatorForGroupError,
    ke.NotCoordinatorError,
    ke.NotEnoughReplicasError,
    ke.NotEnoughReplicasAfterAppendError,
    ke.NotControllerError,
    ke.KafkaStorageError,
    ke.StaleControllerEpochError,
    ke.StaleLeaderEpochCodeError,
    ke.QuotaViolationError,
    ke.FetchSessionIdNotFound,
    ke.InvalidFetchSessionEpoch,
    ke.ReassignmentInProgress,
    ke.UnknownTopicOrPartitionError,
)

# Credentials or ACLs: retrying with the same identity cannot succeed.
_ACCESS_DENIED: Final = (
    ke.AuthenticationMethodNotSupported,
    ke.AuthenticationFailedError,
    ke.TopicAuthorizationFailedError,
    ke.GroupAuthorizationFailedError,
    ke.ClusterAuthorizationFailedError,
    ke.TransactionalIdAuthorizationFailed,
    ke.UnsupportedSaslMechanismError,
    ke.IllegalSaslStateError,
    ke.SaslAuthenticationFailed,
    ke.SecurityDisabled,
    ke.DelegationTokenAuthDisabled,
    ke.DelegationTokenNotFound,
    ke.DelegationTokenOwnerMismatch,
    ke.DelegationTokenRequestNotAllowed,
    ke.DelegationTokenAuthorizationFailed,
    ke.DelegationTokenExpired,
    ke.InvalidPrincipalType,
)

_TOO_LARGE: Final = (
    ke.RecordTooLargeError,
    ke.MessageSizeTooLargeError,
    ke.RecordListTooLargeError,
    ke.OffsetMetadataTooLargeError,
)

# The group moved on while we worked: the commit is lost, the records come back.
_COMMIT_REFUSED: Final = (
    ke.CommitFailedError,
    ke.RebalanceInProgressError,
    ke.IllegalGenerationError,
    ke.UnknownMemberIdError,
    ke.MemberIdRequired,
)

# Idempotent-producer sequence trouble: the broker's answer about this record is unknown.
_PUBLISH_UNCONFIRMED: Final = (
    ke.OutOfOrderSequenceNumber,
    ke.DuplicateSequenceNumber,
    ke.InvalidProducerEpoch,
    ke.UnknownProducerId,
    ke.ProducerFenced,
    ke.ProducerClosed,
)

# Programming, configuration, protocol or version problems: a human has to look.
_CLIENT_FAILURE: Final = (
    ke.KafkaError,
    ke.BrokerResponseError,
    ke.IllegalStateError,
    ke.IllegalArgumentError,
    ke.KafkaProtocolError,
    ke.CorrelationIdError,
    ke.UnrecognizedBrokerVersion,
    ke.IncompatibleBrokerVersion,
    ke.UnsupportedCodecError,
    ke.KafkaConfigurationError,
    ke.ConsumerStoppedError,
    ke.IllegalOperation,
    ke.NoOffsetForPartitionError,
    ke.NoError,
    ke.UnknownError,
    ke.OffsetOutOfRangeError,
    ke.CorruptRecordException,
    ke.InvalidMessageError,
    ke.InvalidFetchRequestError,
    ke.InvalidTopicError,
    ke.InvalidRequiredAcksError,
    ke.InconsistentGroupProtocolError,
    ke.InvalidGroupIdError,
    ke.InvalidSessionTimeoutError,
    ke.InvalidCommitOffsetSizeError,
    ke.InvalidTimestampError,
    ke.UnsupportedVersionError,
    ke.TopicAlreadyExistsError,
    ke.InvalidPartitionsError,
    ke.InvalidReplicationFactorError,
    ke.InvalidReplicationAssignmentError,
    ke.InvalidConfigurationError,
    ke.InvalidRequestError,
    ke.UnsupportedForMessageFormatError,
    ke.PolicyViolationError,
    ke.InvalidTxnState,
    ke.InvalidProducerIdMapping,
    ke.InvalidTransactionTimeout,
    ke.ConcurrentTransactions,
    ke.TransactionCoordinatorFenced,
    ke.OperationNotAttempted,
    ke.LogDirNotFound,
    ke.NonEmptyGroup,
    ke.GroupIdNotFound,
    ke.ListenerNotFound,
)

KAFKA_ERROR_CATEGORIES: Final[dict[type[BaseException], type[KafkaClientError]]] = {
    **dict.fromkeys(_CLIENT_FAILURE, KafkaClientError),
    **dict.fromkeys(_UNAVAILABLE, BrokerUnavailableError),
    **dict.fromkeys(_ACCESS_DENIED, KafkaAccessDeniedError),
    **dict.fromkeys(_TOO_LARGE, RecordTooLargeError),
    **dict.fromkeys(_COMMIT_REFUSED, OffsetCommitError),
    **dict.fromkeys(_PUBLISH_UNCONFIRMED, PublishError),
}
"""Each aiokafka exception class → the bus class it becomes (exact class, not subclasses)."""


_PRODUCER_STAYS_USABLE: Final = (*_TOO_LARGE, *_ACCESS_DENIED, ke.InvalidTopicError)
"""Failures about one record or our identity: a new producer would fail the same way."""


class FencedInstanceIdError(ke.BrokerResponseError):
    """Broker error 82, which aiokafka 0.14 does not know: a consumer with the same
    ``group.instance.id`` joined the group after this one (KIP-345)."""

    errno = 82
    message = "FENCED_INSTANCE_ID"
    description = "Another consumer joined the group with this consumer's group.instance.id."


# aiokafka maps a response's error code through this table. Without the entry, code 82
# becomes UnknownError; with it, aiokafka's own log says FENCED_INSTANCE_ID and the
# KafkaError it raises from JoinGroup/SyncGroup (which carries only the repr of the
# broker's error, not the error itself) names this class. setdefault: an aiokafka release
# that defines the code itself keeps its own class (the unit test then says so).
ke.kafka_errors.setdefault(FencedInstanceIdError.errno, FencedInstanceIdError)
_FENCED_REPR: Final = repr(FencedInstanceIdError())


def _is_fenced(exc: BaseException) -> bool:
    # An OffsetCommit raises the broker's error as is; JoinGroup, SyncGroup and Heartbeat
    # wrap it in a plain KafkaError whose text is the repr of the broker's error.
    return isinstance(exc, FencedInstanceIdError) or (
        isinstance(exc, ke.KafkaError) and _FENCED_REPR in str(exc)
    )


def leaves_producer_usable(exc: BaseException) -> bool:
    """Whether an idempotent producer can go on after ``exc`` failed one of its sends.

    Anything else (an out-of-order sequence after a long outage, a fenced or unknown
    producer id, a delivery that timed out, a lost connection) may leave its sequence
    numbers or state out of step with the broker's, and aiokafka never recovers from
    that by itself: the producer is replaced (``BusProducer``).
    """
    return isinstance(exc, _PRODUCER_STAYS_USABLE)


def translate_kafka_error(exc: BaseException, *, operation: str) -> BusError:
    """The ``BusError`` to raise (``from exc``) for an aiokafka failure during ``operation``.

    The lookup walks the exception's MRO so that a subclass aiokafka adds between two
    releases still lands in its parent's category at run time (the unit test makes sure
    it is also listed explicitly). Timeouts and OS-level socket errors are the broker not
    answering.
    """
    if isinstance(exc, BusError):
        return exc
    if _is_fenced(exc):
        return InstanceFencedError(
            f"{operation}: the broker fenced this consumer (FENCED_INSTANCE_ID): another "
            "running consumer joined the group with the same group.instance.id"
        )
    if isinstance(exc, TimeoutError | ConnectionError):
        return BrokerUnavailableError(f"{operation}: the broker did not answer ({_name(exc)})")
    for klass in type(exc).__mro__:
        target = KAFKA_ERROR_CATEGORIES.get(klass)
        if target is not None:
            return target(f"{operation}: {_name(exc)}: {_describe(exc)}")
    return KafkaClientError(f"{operation}: unexpected {_name(exc)}")


def _name(exc: BaseException) -> str:
    return type(exc).__name__


def _describe(exc: BaseException) -> str:
    # aiokafka messages carry topic names and broker text, never record contents; bound them
    # anyway because they end up in logs and dead-letter headers.
    text = str(exc) or getattr(exc, "description", "") or "no detail"
    return text if len(text) <= 300 else text[:297] + "..."


KAFKA_FAILURES: Final[tuple[type[Exception], ...]] = (
    ke.KafkaError,
    ke.ConsumerStoppedError,
    ke.IllegalOperation,
    OSError,
    TimeoutError,
)
"""What an ``except`` around an aiokafka call catches (and hands to the translation)."""
