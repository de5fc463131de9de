"""C2SP signed notes: text, a blank line, then ``— <key name> <base64(key id || sig)>`` lines.

Behaviour follows Go's ``golang.org/x/mod/sumdb/note`` (``Sign`` and ``Open``), the
reference implementation: the text must be valid UTF-8 without control characters other
than newline; the signatures are separated by the *last* blank line; at most 100
signature lines; a signature by a key nobody trusts is kept aside, unverified (this is how
keys are rotated and witnesses cosign); a signature by a trusted key that does not verify
rejects the whole note; a note with no signature by a trusted key is rejected.

Two deliberate differences from Go: base64 must be canonical (one spelling per
signature), and the same verifier listed twice is not "ambiguous" (only two *different*
keys sharing a name and key id are).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from bus.audit.errors import (
    AmbiguousKeyError,
    InvalidSignatureError,
    MalformedNoteError,
    UnverifiedNoteError,
)
from bus.audit.note_keys import NoteSigner, NoteVerifier, decode_base64_strict, is_valid_key_name

__all__ = ["MAX_SIGNATURES", "Note", "NoteSignature", "open_note", "sign_note"]

MAX_SIGNATURES: Final = 100
"""Signature lines a note may carry (Go's limit; C2SP asks verifiers to accept 16+)."""

_SIG_PREFIX: Final = "\u2014 "  # em dash, space
_KEY_ID_SIZE: Final = 4


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: the key's name and id, and the line's base64 as written."""

    name: str
    key_id: int
    base64: str

    @property
    def key_label(self) -> str:
        """``name+keyid``, as errors name a key."""
        return f"{self.name}+{self.key_id:08x}"


@dataclass(frozen=True)
class Note:
    """An opened note: its text and which signatures were verified or merely present."""

    text: str
    signatures: tuple[NoteSignature, ...]
    unverified_signatures: tuple[NoteSignature, ...]


def _check_text(text: str) -> None:
    """Raise unless ``text`` may be the text of a note (UTF-8, no controls but newline)."""
    if not isinstance(text, str):
        raise MalformedNoteError("a note is text")
    for c in text:
        if (ord(c) < 0x20 and c != "\n") or 0xD800 <= ord(c) <= 0xDFFF:
            # Go checks UTF-8 validity; in a str the only invalid UTF-8 is a surrogate.
            raise MalformedNoteError(f"a note may not contain the character {c!r}")


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """The signed note: ``text`` (ending in a newline), a blank line, one line per signer."""
    _check_text(text)
    if not text.endswith("\n"):
        raise MalformedNoteError("the text of a note ends with a newline")
    if not signers:
        raise MalformedNoteError("a note needs at least one signature")
    message = text.encode("utf-8")
    lines = []
    for signer in signers:
        raw = signer.key_id.to_bytes(_KEY_ID_SIZE, "big") + signer.sign(message)
        lines.append(f"{_SIG_PREFIX}{signer.name} {base64.b64encode(raw).decode('ascii')}\n")
    return text + "\n" + "".join(lines)


def _parse_signature_line(line: str) -> tuple[NoteSignature, bytes]:
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("a signature line starts with an em dash and a space")
    name, _, b64 = line.removeprefix(_SIG_PREFIX).partition(" ")
    raw = decode_base64_strict(b64)
    if not is_valid_key_name(name) or not b64 or raw is None or len(raw) <= _KEY_ID_SIZE:
        raise MalformedNoteError(f"malformed signature line {line!r}")
    key_id = int.from_bytes(raw[:_KEY_ID_SIZE], "big")
    return NoteSignature(name, key_id, b64), raw[_KEY_ID_SIZE:]


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse ``note`` and verify its signatures by the trusted ``verifiers``.

    Raises ``MalformedNoteError`` for a note that does not parse,
    ``InvalidSignatureError`` if a trusted key's signature does not verify,
    ``AmbiguousKeyError`` if a signature's key matches two different trusted verifiers,
    ``UnverifiedNoteError`` (naming the expected and the found keys) if no trusted key
    signed it.
    """
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("a signed note has a blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise MalformedNoteError("a signed note ends with a signature line and a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"a note carries at most {MAX_SIGNATURES} signatures")

    known: dict[tuple[str, int], list[NoteVerifier]] = {}
    for v in verifiers:
        same = known.setdefault((v.name, v.key_id), [])
        if v not in same:
            same.append(v)

    message = text.encode("utf-8")
    verified: list[NoteSignature] = []
    unverified: list[NoteSignature] = []
    seen: set[tuple[str, int]] = set()
    for line in lines:
        sig, raw = _parse_signature_line(line)
        key = (sig.name, sig.key_id)
        candidates = known.get(key)
        if candidates is None:
            # A key we do not trust: kept for the caller, never an error (C2SP "MUST ignore").
            if sig not in unverified:
                unverified.append(sig)
            continue
        if len(candidates) > 1:
            raise AmbiguousKeyError(sig.key_label)
        if key in seen:
            # Go verifies only the first signature line of each key.
            continue
        seen.add(key)
        if not candidates[0].verify(message, raw):
            raise InvalidSignatureError(sig.key_label)
        verified.append(sig)

    if not verified:
        expected = tuple(dict.fromkeys(v.key_label for v in verifiers))
        found = tuple(dict.fromkeys(s.key_label for s in unverified))
        raise UnverifiedNoteError(expected, found)
    return Note(text, tuple(verified), tuple(unverified))
