"""C2SP tlog-checkpoint: format, parse, sign and open, with every malformation refused.

The example body is C2SP's own (``tlog-checkpoint.md``, "example.com/behind-the-sofa").
"""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.audit.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from bus.audit.errors import (
    CheckpointMismatchError,
    InvalidSignatureError,
    MalformedCheckpointError,
    MalformedNoteError,
    NoteError,
    UnverifiedNoteError,
)
from bus.audit.merkle import EMPTY_ROOT, leaf_hash, root
from bus.audit.note_keys import NoteSigner
from bus.audit.signed_note import open_note, sign_note

C2SP_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ORIGIN = "audit.interop.example/log"
SIGNER = NoteSigner.generate(ORIGIN)
ROOT = root([leaf_hash(b"event-%d" % i) for i in range(5)])


def test_c2sp_example_body_parses_and_formats_back() -> None:
    """The spec's example: origin, size and root as written; body() reproduces it."""
    checkpoint = Checkpoint.parse(C2SP_BODY)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == C2SP_BODY


def test_sign_then_open_round_trips() -> None:
    """A signed checkpoint opens with the log's verifier to the same values."""
    note = sign_checkpoint(ORIGIN, 5, ROOT, SIGNER)
    assert note.startswith(f"{ORIGIN}\n5\n{base64.b64encode(ROOT).decode()}\n\n\u2014 {ORIGIN} ")
    assert note.endswith("\n")
    assert open_checkpoint(note, SIGNER.verifier) == Checkpoint(ORIGIN, 5, ROOT)
    assert open_checkpoint(note, SIGNER.verifier, origin=ORIGIN).size == 5


def test_empty_tree_checkpoint() -> None:
    """Size 0 is written "0" and carries the empty root."""
    note = sign_checkpoint(ORIGIN, 0, EMPTY_ROOT, SIGNER)
    assert note.split("\n")[1] == "0"
    assert open_checkpoint(note, SIGNER.verifier).root_hash == EMPTY_ROOT


def test_extension_lines_round_trip_and_are_signed() -> None:
    """Extension lines follow the root hash, are covered by the signature, and come back."""
    note = sign_checkpoint(ORIGIN, 5, ROOT, SIGNER, extensions=["ext one", "ext two"])
    assert open_checkpoint(note, SIGNER.verifier).extensions == ("ext one", "ext two")
    with pytest.raises(InvalidSignatureError):
        open_checkpoint(note.replace("ext two", "ext 2"), SIGNER.verifier)


def test_other_signatures_are_ignored_but_the_logs_is_required() -> None:
    """A witness cosignature is ignored; without the log's own signature, refused by name."""
    witness = NoteSigner.generate("witness.example/w1")
    cosigned = sign_note(Checkpoint(ORIGIN, 5, ROOT).body(), [witness, SIGNER])
    assert open_checkpoint(cosigned, SIGNER.verifier).size == 5
    witness_only = sign_checkpoint(ORIGIN, 5, ROOT, witness)
    with pytest.raises(UnverifiedNoteError) as caught:
        open_checkpoint(witness_only, SIGNER.verifier)
    assert caught.value.expected == (SIGNER.verifier.key_label,)
    assert witness.key_label in str(caught.value)


def test_tampered_size_or_root_fails_the_signature() -> None:
    """Changing any signed field breaks the signature: the log's key is known, so it fails."""
    note = sign_checkpoint(ORIGIN, 5, ROOT, SIGNER)
    for tampered in (
        note.replace("\n5\n", "\n6\n", 1),
        note.replace(base64.b64encode(ROOT).decode(), base64.b64encode(EMPTY_ROOT).decode()),
        note.replace(ORIGIN, ORIGIN + "2", 1),
    ):
        assert tampered != note
        with pytest.raises(InvalidSignatureError):
            open_checkpoint(tampered, SIGNER.verifier)


def test_a_checkpoint_of_another_origin_is_refused_when_origin_is_given() -> None:
    """One key signing two logs (shards) must not let one's checkpoint pass for the other's."""
    note = sign_checkpoint("audit.interop.example/shard-2", 5, ROOT, SIGNER)
    assert open_checkpoint(note, SIGNER.verifier).origin.endswith("shard-2")
    with pytest.raises(CheckpointMismatchError):
        open_checkpoint(note, SIGNER.verifier, origin=ORIGIN)


@pytest.mark.parametrize(
    "body",
    [
        "example.com/log\n5\n",  # no root line
        "example.com/log\n5",  # no final newline
        "\n5\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
        "example.com/log\n05\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "example.com/log\n-5\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.com/log\n+5\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.com/log\n 5\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.com/log\n\u0665\n" + base64.b64encode(ROOT).decode() + "\n",  # Arabic 5
        "example.com/log\n18446744073709551616\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.com/log\n" + "9" * 5000 + "\n" + base64.b64encode(ROOT).decode() + "\n",
        "example.com/log\n5\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # short root
        "example.com/log\n5\n" + base64.b64encode(ROOT).decode().rstrip("=") + "\n",
        "example.com/log\n5\n" + base64.urlsafe_b64encode(b"\xfb" * 32).decode() + "\n",
        "example.com/log\n5\n" + base64.b64encode(ROOT).decode() + "\n\n",  # empty extension
    ],
)
def test_malformed_bodies_are_refused(body: str) -> None:
    """Every deviation from the three-line grammar is a MalformedCheckpointError."""
    with pytest.raises(MalformedCheckpointError):
        Checkpoint.parse(body)


def test_a_signed_but_malformed_body_is_refused_after_verification() -> None:
    """The log's key signing a non-checkpoint text still does not make it a checkpoint."""
    note = sign_note("example.com/log\n05\n" + base64.b64encode(ROOT).decode() + "\n", [SIGNER])
    with pytest.raises(MalformedCheckpointError):
        open_checkpoint(note, SIGNER.verifier)


def test_malformed_note_is_a_note_error() -> None:
    """A checkpoint note without signature block is malformed (a NoteError, typed)."""
    with pytest.raises(MalformedNoteError):
        open_checkpoint(Checkpoint(ORIGIN, 5, ROOT).body(), SIGNER.verifier)


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 5, ROOT, ()),
        ("two\nlines", 5, ROOT, ()),
        (ORIGIN, -1, ROOT, ()),
        (ORIGIN, True, ROOT, ()),
        (ORIGIN, 2**64, ROOT, ()),
        (ORIGIN, 5, ROOT[:31], ()),
        (ORIGIN, 5, ROOT.hex(), ()),
        (ORIGIN, 5, ROOT, ("",)),
        (ORIGIN, 5, ROOT, ("a\nb",)),
    ],
)
def test_sign_refuses_values_that_cannot_be_a_checkpoint(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    """Nothing malformed is ever signed: the log cannot publish a checkpoint it can't parse."""
    with pytest.raises(MalformedCheckpointError):
        sign_checkpoint(origin, size, root_hash, SIGNER, extensions=extensions)


def test_open_checkpoint_refuses_a_non_verifier() -> None:
    """Passing a signer or a key string by mistake is a typed error, not an AttributeError."""
    note = sign_checkpoint(ORIGIN, 5, ROOT, SIGNER)
    with pytest.raises(NoteError):
        open_checkpoint(note, SIGNER.verifier.key_string())  # type: ignore[arg-type]


origins = st.text(
    alphabet=st.characters(codec="utf-8", min_codepoint=0x21, exclude_characters="+"),
    min_size=1,
    max_size=30,
)


@given(origins, st.integers(0, 2**64 - 1), st.binary(min_size=32, max_size=32))
def test_any_valid_checkpoint_round_trips(origin: str, size: int, root_hash: bytes) -> None:
    """Format -> sign -> open gives back the same checkpoint for any valid values."""
    note = sign_checkpoint(origin, size, root_hash, SIGNER)
    assert open_checkpoint(note, SIGNER.verifier) == Checkpoint(origin, size, root_hash)
    assert open_note(note, [SIGNER.verifier]).text == Checkpoint(origin, size, root_hash).body()
