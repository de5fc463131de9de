"""Typed identifiers: service ids, member ids, gateway groups and exchange ids.

Each id is a ``NewType`` over ``str`` (as Karapace types its subjects and schema ids) so
mypy keeps a member id from being passed where a service id is expected; the ``parse_*``
functions are the only way to make one from untrusted text, and they refuse what does not
fit with ``InvalidIdentifierError``.

* service id: ``<domain>.<service>``, each segment ``[a-z][a-z0-9-]*``
  (``register.residence-certificate``);
* member id and gateway-group id: lowercase letters, digits, dots and hyphens, segments
  separated by single dots, starting with a letter or digit (``es.aeat``);
* exchange id: a UUIDv7 in canonical lowercase form (RFC 9562), time-ordered so that
  exchange ids sort by creation time in logs and in the exchange store.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from typing import Final, NewType

from bus.errors import InvalidIdentifierError

__all__ = [
    "MAX_ID_LENGTH",
    "ExchangeId",
    "GatewayGroupId",
    "MemberId",
    "ServiceId",
    "new_exchange_id",
    "parse_exchange_id",
    "parse_gateway_group_id",
    "parse_major_version",
    "parse_member_id",
    "parse_service_id",
    "uuid7",
]

ServiceId = NewType("ServiceId", str)
MemberId = NewType("MemberId", str)
GatewayGroupId = NewType("GatewayGroupId", str)
ExchangeId = NewType("ExchangeId", str)

# Topic names embed these ids and Kafka caps a topic name at 249 characters; the longest
# prefix/suffix ("interop.dlq." + ".v" + major) leaves room for ids of this length.
MAX_ID_LENGTH: Final = 200
MAX_MAJOR_VERSION: Final = 9999

_SEGMENT = r"[a-z][a-z0-9-]*"
_SERVICE_RE: Final = re.compile(rf"{_SEGMENT}\.{_SEGMENT}")
_DOTTED_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]*(?:\.[a-z0-9][a-z0-9-]*)*")
_UUID_RE: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _check_length(kind: str, text: str) -> None:
    if not text:
        raise InvalidIdentifierError(f"{kind} is empty")
    if len(text) > MAX_ID_LENGTH:
        raise InvalidIdentifierError(f"{kind} is longer than {MAX_ID_LENGTH} characters")


def _shown(text: str) -> str:
    # Ids come from untrusted input and are echoed in error messages: bound and quote them.
    return repr(text[:60] + ("..." if len(text) > 60 else ""))


def parse_service_id(text: str) -> ServiceId:
    """Validate ``<domain>.<service>`` (e.g. ``register.residence-certificate``)."""
    _check_length("service id", text)
    if _SERVICE_RE.fullmatch(text) is None:
        raise InvalidIdentifierError(
            f"service id {_shown(text)} is not <domain>.<service> with segments [a-z][a-z0-9-]*"
        )
    return ServiceId(text)


def parse_member_id(text: str) -> MemberId:
    """Validate a member (administration) id such as ``es.aeat``."""
    _check_length("member id", text)
    if _DOTTED_RE.fullmatch(text) is None:
        raise InvalidIdentifierError(
            f"member id {_shown(text)} must be dot-separated segments of [a-z0-9-] "
            "starting with a letter or digit"
        )
    return MemberId(text)


def parse_gateway_group_id(text: str) -> GatewayGroupId:
    """Validate a gateway-group id (names the reply topic ``interop.rep.<group>``)."""
    _check_length("gateway-group id", text)
    if _DOTTED_RE.fullmatch(text) is None:
        raise InvalidIdentifierError(
            f"gateway-group id {_shown(text)} must be dot-separated segments of [a-z0-9-] "
            "starting with a letter or digit"
        )
    return GatewayGroupId(text)


def parse_major_version(text: str) -> int:
    """Parse a major version as written in topic names and ``ce_type`` (no sign, no zeros)."""
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        raise InvalidIdentifierError(f"major version {_shown(text)} is not a plain number")
    major = int(text)
    if not 1 <= major <= MAX_MAJOR_VERSION:
        raise InvalidIdentifierError(f"major version {major} is not in 1..{MAX_MAJOR_VERSION}")
    return major


def parse_exchange_id(text: str) -> ExchangeId:
    """Validate a canonical lowercase UUIDv7 (RFC 9562 variant, version nibble 7)."""
    if _UUID_RE.fullmatch(text) is None:
        raise InvalidIdentifierError(
            f"exchange id {_shown(text)} is not a canonical lowercase UUID"
        )
    parsed = uuid.UUID(text)
    if parsed.version != 7 or parsed.variant != uuid.RFC_4122:
        raise InvalidIdentifierError(f"exchange id {_shown(text)} is not a UUIDv7")
    return ExchangeId(text)


class _Uuid7Clock:
    """Monotonic UUIDv7 generation (RFC 9562 section 6.2, method 1: a 12-bit counter).

    Within one millisecond the 12 ``rand_a`` bits count up from a random start, so ids from
    one process sort in creation order; if the counter overflows or the clock goes back,
    the timestamp is advanced artificially instead (allowed by the RFC).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def next(self) -> uuid.UUID:
        with self._lock:
            now_ms = time.time_ns() // 1_000_000
            if now_ms > self._last_ms:
                self._last_ms = now_ms
                # Start low in the counter's range so many ids fit in one millisecond.
                self._counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
            else:
                self._counter += 1
                if self._counter > 0xFFF:
                    self._last_ms += 1
                    self._counter = 0
            ms, counter = self._last_ms, self._counter
        rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
        value = (ms & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= counter << 64
        value |= 0b10 << 62
        value |= rand_b
        return uuid.UUID(int=value)


_CLOCK: Final = _Uuid7Clock()


def uuid7() -> uuid.UUID:
    """A new UUIDv7 (Python 3.11's ``uuid`` module has none)."""
    return _CLOCK.next()


def new_exchange_id() -> ExchangeId:
    """A fresh exchange id (``ce_id``) for a new request."""
    return ExchangeId(str(uuid7()))
