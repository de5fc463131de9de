"""Signed checkpoints of the audit log's Merkle tree (C2SP ``tlog-checkpoint``).

A checkpoint is a signed note whose text is::

    <origin>\\n              which log: non-empty (C2SP recommends a schema-less URL)
    <tree size>\\n           ASCII decimal, no leading zeros (``0`` for the empty tree)
    <root hash>\\n           standard padded base64 of the 32-byte RFC 9162 root
    [<extension line>\\n]... optional, non-empty, opaque (C2SP does not recommend them)

Auditors pin the log's verifier key and check each checkpoint with ``open_checkpoint``,
then check consistency between checkpoints and inclusion of events against them
(``bus.audit.merkle``). The log signs with a key named like its origin, as C2SP advises.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Self

from bus.audit.errors import CheckpointMismatchError, MalformedCheckpointError, NoteError
from bus.audit.merkle import HASH_SIZE, MAX_TREE_SIZE
from bus.audit.note_keys import NoteSigner, NoteVerifier, decode_base64_strict
from bus.audit.signed_note import open_note, sign_note

__all__ = ["Checkpoint", "open_checkpoint", "sign_checkpoint"]

# [0-9] rather than \d: \d also matches non-ASCII digits such as "٣".
_TREE_SIZE: Final = re.compile(r"0|[1-9][0-9]*")


def _check_line(what: str, line: object) -> str:
    if not isinstance(line, str) or not line:
        raise MalformedCheckpointError(f"the checkpoint {what} must be a non-empty line")
    if any(ord(c) < 0x20 or 0xD800 <= ord(c) <= 0xDFFF for c in line):
        # Covers "\n" (it would shift every later line) and what a note may not contain.
        raise MalformedCheckpointError(
            f"the checkpoint {what} {line!r} holds a newline or control character"
        )
    return line


@dataclass(frozen=True)
class Checkpoint:
    """A tree head: which log (``origin``), how many leaves, and the root hash then."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if (
            isinstance(self.size, bool)
            or not isinstance(self.size, int)
            or not 0 <= self.size <= MAX_TREE_SIZE
        ):
            raise MalformedCheckpointError(f"tree size {self.size!r} is not in 0..2**64-1")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise MalformedCheckpointError(f"a root hash is {HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise MalformedCheckpointError("extension lines are a tuple of strings")
        for line in self.extensions:
            _check_line("extension line", line)

    def body(self) -> str:
        """The checkpoint as note text: one line per field, each ending in a newline."""
        lines = [
            self.origin,
            str(self.size),
            base64.b64encode(self.root_hash).decode("ascii"),
            *self.extensions,
        ]
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def parse(cls, text: str) -> Self:
        """Read a checkpoint body (the note's text, signatures already removed)."""
        if not isinstance(text, str) or not text.endswith("\n"):
            raise MalformedCheckpointError("a checkpoint body ends with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedCheckpointError(
                "a checkpoint has an origin, a tree size and a root hash line"
            )
        origin, size_line, root_line, *extensions = lines
        # Length first: int() refuses strings of more than 4300 digits with a ValueError.
        if len(size_line) > len(str(MAX_TREE_SIZE)) or not _TREE_SIZE.fullmatch(size_line):
            raise MalformedCheckpointError(f"tree size {size_line!r} is not a decimal number")
        root_hash = decode_base64_strict(root_line)
        if root_hash is None:
            raise MalformedCheckpointError(f"root hash {root_line!r} is not canonical base64")
        return cls(origin, int(size_line), root_hash, tuple(extensions))


def sign_checkpoint(
    origin: str,
    size: int,
    root_hash: bytes,
    signer: NoteSigner,
    *,
    extensions: Sequence[str] = (),
) -> str:
    """The signed note of the checkpoint (``origin``, ``size``, ``root_hash``)."""
    checkpoint = Checkpoint(origin, size, root_hash, tuple(extensions))
    return sign_note(checkpoint.body(), [signer])


def open_checkpoint(
    note_text: str, verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a signed checkpoint against the trusted ``verifier`` and parse it.

    Signatures by other keys (witnesses, a rotated key) are ignored, but one by
    ``verifier`` must be present and valid. Pass ``origin`` to also require the
    checkpoint to be for that log: a key that signs several logs (one per audit shard)
    must not let a checkpoint of one pass for another.

    Raises the ``NoteError`` family: ``MalformedNoteError``, ``UnverifiedNoteError``,
    ``InvalidSignatureError``, ``MalformedCheckpointError``, ``CheckpointMismatchError``.
    """
    if not isinstance(verifier, NoteVerifier):
        raise NoteError("open_checkpoint needs a NoteVerifier")
    note = open_note(note_text, [verifier])
    # The body is parsed only after its signature verified: unsigned text is not trusted
    # enough to be parsed (C2SP signed-note: "the text MUST be ignored unless ...").
    checkpoint = Checkpoint.parse(note.text)
    if origin is not None and checkpoint.origin != origin:
        raise CheckpointMismatchError(
            f"checkpoint is for origin {checkpoint.origin!r}, expected {origin!r}"
        )
    return checkpoint
