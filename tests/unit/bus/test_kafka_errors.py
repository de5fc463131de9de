"""Translation of aiokafka errors: every class is mapped, each to the right family member."""

from __future__ import annotations

import inspect

import aiokafka.errors
import pytest

from bus import (
    BrokerUnavailableError,
    BusError,
    InstanceFencedError,
    KafkaAccessDeniedError,
    KafkaClientError,
    OffsetCommitError,
    PublishError,
    RecordTooLargeError,
)
from bus.kafka_errors import KAFKA_ERROR_CATEGORIES, FencedInstanceIdError, translate_kafka_error


def _aiokafka_exception_classes() -> set[type[BaseException]]:
    return {
        obj
        for obj in vars(aiokafka.errors).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        # Builtins re-exported by aiokafka.errors are not aiokafka's own classes.
        and obj.__module__.startswith("aiokafka")
    }


def test_every_aiokafka_exception_class_is_mapped() -> None:
    """Fails when an aiokafka upgrade adds an error class the mapping does not list."""
    unmapped = _aiokafka_exception_classes() - set(KAFKA_ERROR_CATEGORIES)
    assert not unmapped, f"map these in bus/kafka_errors.py: {sorted(c.__name__ for c in unmapped)}"


def test_the_mapping_lists_only_aiokafka_classes() -> None:
    """No stale entries: every mapped class still exists in aiokafka.errors."""
    assert set(KAFKA_ERROR_CATEGORIES) <= _aiokafka_exception_classes()


@pytest.mark.parametrize(
    ("exc", "expected", "retriable"),
    [
        (aiokafka.errors.KafkaConnectionError("refused"), BrokerUnavailableError, True),
        (aiokafka.errors.KafkaTimeoutError(), BrokerUnavailableError, True),
        (aiokafka.errors.NotLeaderForPartitionError(), BrokerUnavailableError, True),
        (aiokafka.errors.TopicAuthorizationFailedError(), KafkaAccessDeniedError, False),
        (aiokafka.errors.MessageSizeTooLargeError(), RecordTooLargeError, False),
        (aiokafka.errors.CommitFailedError("rebalanced"), OffsetCommitError, True),
        (aiokafka.errors.OutOfOrderSequenceNumber(), PublishError, True),
        (aiokafka.errors.IllegalStateError("bug"), KafkaClientError, False),
        (TimeoutError(), BrokerUnavailableError, True),
        (ConnectionResetError(), BrokerUnavailableError, True),
    ],
)
def test_translation_picks_the_family_member(
    exc: BaseException, expected: type[BusError], retriable: bool
) -> None:
    """Each category lands on its BusError with the right retriable flag and the operation."""
    translated = translate_kafka_error(exc, operation="producing to t")
    assert type(translated) is expected
    assert translated.retriable is retriable
    assert translated.message.startswith("producing to t")


def test_an_unknown_subclass_falls_back_to_its_parent_category() -> None:
    """A class aiokafka might add later is still translated by its MRO at run time."""

    class NewCoordinatorTrouble(aiokafka.errors.NotCoordinatorError):
        pass

    assert type(translate_kafka_error(NewCoordinatorTrouble(), operation="x")) is (
        BrokerUnavailableError
    )
    assert type(translate_kafka_error(ValueError("?"), operation="x")) is KafkaClientError


def test_bus_errors_pass_through_unchanged() -> None:
    """Translating an already translated error returns it as is."""
    error = PublishError("x")
    assert translate_kafka_error(error, operation="y") is error


def test_fenced_instance_id_is_known_to_aiokafka_and_translated() -> None:
    """Code 82 (KIP-345), missing from aiokafka 0.14's table, maps to our class; whether
    aiokafka raises it as is (OffsetCommit) or as the repr inside a plain KafkaError
    (JoinGroup, SyncGroup, Heartbeat), it becomes a non-retriable InstanceFencedError."""
    assert aiokafka.errors.for_code(82) is FencedInstanceIdError
    wrapped = aiokafka.errors.KafkaError(repr(aiokafka.errors.for_code(82)()))
    for exc in (FencedInstanceIdError(), wrapped):
        translated = translate_kafka_error(exc, operation="fetching records")
        assert type(translated) is InstanceFencedError
        assert not translated.retriable
        assert "FENCED_INSTANCE_ID" in translated.message
    other = aiokafka.errors.KafkaError(repr(aiokafka.errors.UnknownError()))
    assert type(translate_kafka_error(other, operation="x")) is KafkaClientError


def test_aiokafka_does_not_define_fenced_instance_id_itself() -> None:
    """Fails when an aiokafka upgrade knows code 82: then map its class instead of ours."""
    assert not [c for c in _aiokafka_exception_classes() if getattr(c, "errno", None) == 82]
