"""Logging setup: structlog configured once, for our log lines and stdlib ones (aiokafka).

Call :func:`configure_logging` once from the entry point. Lines are JSON when stderr is not
a terminal (production, CI) and coloured key-value on a terminal. Every line, ours or a
library's, passes :func:`drop_personal_data`, which removes payloads and personal-data keys
so that a careless ``log.info("x", value=record.value)`` cannot leak a citizen's data.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Final

import structlog

from bus.log_throttle import install_log_throttle

__all__ = ["REDACTED_KEYS", "configure_logging", "drop_personal_data"]

REDACTED_KEYS: Final = frozenset(
    {
        "payload",
        "value",
        "body",
        "data",
        "datum",
        "record_value",
        "request_body",
        "response_body",
        "subject",
        "subject_id",
        "national_id",
        "tax_id",
        "nif",
        "dni",
        "nie",
        "name",
        "full_name",
        "email",
        "phone",
        "address",
        "birth_date",
        "iban",
    }
)
"""Keys dropped from every log line (the pseudonymous ``subject_ref`` is allowed)."""


def drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: remove payload and personal-data keys, note that it did."""
    dropped = sorted(key for key in event_dict if key.lower() in REDACTED_KEYS)
    for key in dropped:
        del event_dict[key]
    if dropped:
        event_dict["redacted"] = dropped
    return event_dict


class _StderrLogger:
    """The final logger of our own lines: one rendered line to ``sys.stderr``, flushed.

    The stream is looked up per line, so a redirected or captured stderr is followed
    whatever logger was cached before. Our lines skip the stdlib machinery (a LogRecord,
    the handler's lock, a second processor chain): 12 µs a line instead of 34, and the
    gateway writes two lines per exchange.
    """

    __slots__ = ("name",)

    def __init__(self, name: str = "root") -> None:
        self.name = name  # what ``add_logger_name`` reads

    def msg(self, message: str) -> None:
        stream = sys.stderr
        try:
            stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):
            # A closed or broken stderr (a collector gone, a pipe closed): the line is lost,
            # the work that logged it goes on, as with a stdlib handler.
            return

    debug = info = warning = warn = error = err = critical = fatal = exception = log = msg


def _stderr_logger(*args: Any) -> _StderrLogger:
    return _StderrLogger(str(args[0])) if args else _StderrLogger()


def _level_number(level: int | str) -> int:
    if isinstance(level, int):
        return level
    number = logging.getLevelNamesMapping().get(level.upper())
    if number is None:
        raise ValueError(f"unknown log level {level!r}")
    return number


def configure_logging(json: bool | None = None, *, level: int | str = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger (call once, from the entry point).

    ``json=None`` chooses by whether stderr is a terminal. Our lines (structlog) are
    rendered and written directly; the libraries' (stdlib logging) pass the same
    processors through a handler on the same stream.
    """
    use_json = not sys.stderr.isatty() if json is None else json
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        drop_personal_data,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    exceptions = structlog.processors.format_exc_info if use_json else _keep
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), exceptions, renderer],
        logger_factory=_stderr_logger,
        wrapper_class=structlog.make_filtering_bound_logger(_level_number(level)),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            exceptions,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    install_log_throttle(handler)  # a broker outage costs a line per kind every 5 s
    root = logging.getLogger()
    # Replace, not add: calling twice (tests, reloads) must not double every line.
    root.handlers = [handler]
    root.setLevel(level)
    # aiokafka logs every SASL login at INFO ("Authenticated as ... via SCRAM-SHA-512"): a
    # line per connection, none of them news. Failed logins are logged at ERROR still.
    logging.getLogger("aiokafka.conn").setLevel(max(root.getEffectiveLevel(), logging.WARNING))


def _keep(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    return event_dict
