"""Kafka settings validation, and the logging setup that drops personal data."""

from __future__ import annotations

import io
import json
import logging
import sys

import pytest
import structlog
from pydantic import ValidationError

from bus import KafkaSettings, configure_logging, drop_personal_data


def test_settings_defaults_are_durable_and_bounded() -> None:
    """Defaults: no linger (batching happens while a produce is in flight), bounded
    batches; bootstrap lists are normalised."""
    settings = KafkaSettings(bootstrap_servers="a:9092, b:9093")
    assert settings.bootstrap_servers == "a:9092,b:9093"
    assert settings.linger_ms == 0
    assert settings.max_batch_size <= 1_048_576


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bootstrap_servers": "no-port"},
        {"bootstrap_servers": ""},
        {"linger_ms": -1},
        {"max_batch_size": 10**9},
        {"compression_type": "zstd"},
        {"session_timeout_ms": 100},
        {"unknown": 1},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    """Typos and out-of-range values fail at load time, not deep inside aiokafka."""
    with pytest.raises(ValidationError):
        KafkaSettings.model_validate(kwargs)


def test_drop_personal_data_removes_payload_keys() -> None:
    """value, payload, subject and friends are removed; the pseudonym reference stays."""
    event = {"event": "x", "value": b"secret", "Subject": "12345678Z", "subject_ref": "abc"}
    cleaned = drop_personal_data(None, "info", event)
    assert cleaned == {"event": "x", "subject_ref": "abc", "redacted": ["Subject", "value"]}


@pytest.fixture
def restore_logging() -> object:
    """Put structlog and the root logger back as they were after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers, root.level = handlers, level
    structlog.reset_defaults()


def test_configure_logging_renders_json_and_routes_stdlib_logs(
    restore_logging: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """Both structlog and stdlib (aiokafka) lines come out as JSON on stderr, redacted."""
    configure_logging(json=True)
    structlog.get_logger("bus.test").info("record_handled", offset=3, payload=b"secret")
    logging.getLogger("aiokafka").warning("broker %s is slow", "b1")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert lines[0]["event"] == "record_handled"
    assert lines[0]["offset"] == 3
    assert "payload" not in lines[0]
    assert lines[0]["redacted"] == ["payload"]
    assert lines[1]["event"] == "broker b1 is slow"
    assert lines[1]["logger"] == "aiokafka"
    assert lines[1]["level"] == "warning"
    assert lines[0]["logger"] == "bus.test"
    assert lines[0]["level"] == "info"
    # Ours and the libraries' lines carry the same standard keys.
    standard = {"event", "level", "logger", "timestamp"}
    assert set(lines[0]) == standard | {"offset", "redacted"}
    assert set(lines[1]) == standard


def test_our_lines_follow_the_current_stderr_and_the_configured_level(
    restore_logging: object, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our lines are written by structlog itself, not through a stdlib handler: a logger
    used once keeps writing to whatever ``sys.stderr`` is now, lines below the level are
    dropped before any processor runs, and an exception's trace is rendered into the line."""
    configure_logging(json=True, level="WARNING")
    log = structlog.get_logger("bus.levels")
    log.info("dropped")
    log.warning("kept", attempt=2)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["event"] for line in lines] == ["kept", "failed"]
    assert lines[0]["attempt"] == 2
    assert "RuntimeError: boom" in lines[1]["exception"]
    assert lines[1]["level"] == "error"
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging(json=True, level="LOUD")


def test_a_broken_stderr_loses_the_line_not_the_work(
    restore_logging: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writing to a closed stream (a log collector gone) must not fail the exchange that
    logged: the stdlib handler swallowed such errors, and our direct writer does too."""
    configure_logging(json=True)
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr(sys, "stderr", closed)
    structlog.get_logger("bus.broken").info("still_working", step=1)  # does not raise
