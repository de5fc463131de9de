"""The value types that travel in envelope headers, and their text forms.

Headers are copied into dead-letter topics, logs and traces and come from other
administrations' systems, so every value is treated as hostile: bounded in length, free of
control and invisible formatting characters (no log injection, no "Trojan source" bidi
tricks), and of a documented form. Nothing here may carry personal data: the subject
travels only as a pseudonym (see :func:`check_pseudonym`).

Times (``ce_time``, ``interop_deadline``) are RFC 3339 UTC with millisecond precision,
``2026-05-09T10:11:12.345Z``: readable in a dead-letter topic and in logs, sortable as
text, and exactly representable, so that parsing and re-formatting give the same bytes
(the signature over the envelope depends on that).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "MAX_CODE_LENGTH",
    "MAX_HEADER_VALUE_BYTES",
    "MAX_TEXT_LENGTH",
    "check_base64url",
    "check_code",
    "check_pseudonym",
    "check_safe_text",
    "check_text",
    "format_time",
    "parse_time",
    "truncate_to_millis",
]

MAX_HEADER_VALUE_BYTES: Final = 1024
"""No envelope header value is longer than this many bytes (checked before decoding)."""

MAX_CODE_LENGTH: Final = 128
MAX_TEXT_LENGTH: Final = 256
MAX_SIGNATURE_LENGTH: Final = 256

_CODE_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/+-]*")
_PSEUDONYM_RE: Final = re.compile(r"[A-Za-z0-9_-]{43,128}")
_BASE64URL_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_RFC3339_RE: Final = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})T(?P<time>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d{1,9}))?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})"
)
# Unicode categories refused anywhere in a header: controls, format characters (bidi
# overrides, zero-width joiners), line/paragraph separators, surrogates, unassigned.
_FORBIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def check_safe_text(value: str, *, max_length: int) -> str:
    """Refuse empty, over-long or invisible-character text; return it unchanged."""
    if not value:
        raise ValueError("must not be empty")
    if len(value) > max_length:
        raise ValueError(f"longer than {max_length} characters")
    # Fast path for the usual header (ids, codes, timestamps): in ASCII the only forbidden
    # characters are the controls (Cc), which are exactly what isprintable() refuses there.
    if value.isascii() and value.isprintable():
        return value
    for char in value:
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise ValueError(f"contains the forbidden character U+{ord(char):04X}")
    return value


def check_code(value: str) -> str:
    """A machine code (purpose, procedure, consent reference, error code, key id).

    ASCII letters, digits and ``. _ : / + -``, starting with a letter or digit, so URNs and
    SCSP-style procedure codes fit and nothing else does.
    """
    check_safe_text(value, max_length=MAX_CODE_LENGTH)
    if _CODE_RE.fullmatch(value) is None:
        raise ValueError("must be ASCII letters, digits and . _ : / + - (a code)")
    return value


def check_text(value: str) -> str:
    """Human-readable text (a legal basis such as ``Ley 39/2015 art. 28``)."""
    check_safe_text(value, max_length=MAX_TEXT_LENGTH)
    if value != value.strip():
        raise ValueError("must not start or end with whitespace")
    return value


def check_pseudonym(value: str) -> str:
    """A subject reference: a keyed pseudonym, never a raw identifier.

    The gateway derives it as HMAC-SHA-256 encoded in base64url (43 characters) or hex
    (64); anything shorter than 43 characters of that alphabet is refused, which keeps raw
    national ids, tax numbers and IBANs out of headers by construction.
    """
    if _PSEUDONYM_RE.fullmatch(value) is None:
        raise ValueError(
            "must be a pseudonym: 43 to 128 characters of base64url (an HMAC), "
            "never a raw identifier"
        )
    return value


def check_base64url(value: str, *, max_length: int = MAX_SIGNATURE_LENGTH) -> str:
    """Unpadded base64url (signatures)."""
    check_safe_text(value, max_length=max_length)
    if _BASE64URL_RE.fullmatch(value) is None or len(value) % 4 == 1:
        raise ValueError("must be unpadded base64url")
    return value


def _aware_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("must be timezone-aware")
    return moment.astimezone(UTC)


def truncate_to_millis(moment: datetime) -> datetime:
    """``moment`` in UTC, cut to whole milliseconds (what the header form can carry)."""
    utc = _aware_utc(moment)
    return utc.replace(microsecond=utc.microsecond - utc.microsecond % 1000)


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with milliseconds: ``2026-05-09T10:11:12.345Z``."""
    # isoformat rounds nothing: timespec="milliseconds" cuts, as truncate_to_millis does,
    # and costs about half of strftime (two of these per record header set).
    return _aware_utc(moment).isoformat(timespec="milliseconds")[:-6] + "Z"


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 timestamp (any offset, up to nanoseconds) to UTC milliseconds."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        raise ValueError("not an RFC 3339 timestamp such as 2026-05-09T10:11:12.345Z")
    frac = (match["frac"] or "")[:6].ljust(6, "0")
    zone = "+00:00" if match["zone"] == "Z" else match["zone"]
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}.{frac}{zone}")
    except ValueError:
        raise ValueError("not a valid calendar date and time") from None
    offset = moment.utcoffset()
    if offset is not None and abs(offset) >= timedelta(hours=24):  # pragma: no cover
        raise ValueError("offset out of range")
    return truncate_to_millis(moment)
