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


def configure_logging(json: bool | None = None, *, level: int | str = logging.INFO) -> None:
    """Configure structlog and the stdlib root logger (call once, from the entry point).

    ``json=None`` chooses by whether stderr is a terminal.
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
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _keep,
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
