"""Signed notes and note keys, against Go's ``golang.org/x/mod/sumdb/note`` test vectors.

Source: ``sumdb/note/note_test.go`` in golang.org/x/mod (BSD-3-Clause): ``TestNewVerifier``,
``TestNewSigner``, ``TestSign``, ``TestOpen``. The PeterNeumann and EnochRoot keys and
signatures below are copied verbatim; Ed25519 is deterministic, so signing the same text
with the published signer key must reproduce Go's bytes exactly.
"""

from __future__ import annotations

import pytest

from bus.audit.errors import (
    AmbiguousKeyError,
    InvalidKeyError,
    InvalidSignatureError,
    MalformedNoteError,
    UnverifiedNoteError,
)
from bus.audit.note_keys import NoteSigner, NoteVerifier, is_valid_key_name, key_id
from bus.audit.signed_note import NoteSignature, open_note, sign_note

PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_B64 = (
    "x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="
)
ENOCH_B64 = (
    "rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ="
)
PETER_SIG = f"\u2014 PeterNeumann {PETER_B64}\n"
ENOCH_SIG = f"\u2014 EnochRoot {ENOCH_B64}\n"
SIGNED = TEXT + "\n" + PETER_SIG
PETER = NoteSignature("PeterNeumann", 0xC74F20A3, PETER_B64)
ENOCH = NoteSignature("EnochRoot", 0xAF0CFE78, ENOCH_B64)


@pytest.fixture(scope="module")
def peter() -> NoteVerifier:
    """Go's PeterNeumann verifier."""
    return NoteVerifier.parse(PETER_VKEY)


@pytest.fixture(scope="module")
def enoch() -> NoteVerifier:
    """Go's EnochRoot verifier."""
    return NoteVerifier.parse(ENOCH_VKEY)


# -- keys ----------------------------------------------------------------------------------
def test_go_verifier_key_parses_and_formats_back(peter: NoteVerifier) -> None:
    """TestNewVerifier: the published key parses; its id is Go's; formatting round-trips."""
    assert peter.name == "PeterNeumann"
    assert peter.key_id == 0xC74F20A3
    assert peter.key_id == key_id("PeterNeumann", peter.public_key)
    assert peter.key_string() == PETER_VKEY
    assert str(peter) == PETER_VKEY


def test_go_signer_key_parses_to_the_matching_verifier(peter: NoteVerifier) -> None:
    """TestNewSigner: the published signer key derives PeterNeumann's public key."""
    signer = NoteSigner.parse(PETER_SKEY)
    assert signer.verifier == peter
    assert signer.private_key_string() == PETER_SKEY


def test_signer_never_shows_its_seed() -> None:
    """repr and str of a signer name the key, never the secret."""
    signer = NoteSigner.parse(PETER_SKEY)
    secret = PETER_SKEY.rsplit("+", 1)[1]
    for shown in (repr(signer), str(signer)):
        assert secret not in shown
        assert "PeterNeumann" in shown


def _manglings(key: str) -> set[str]:
    """Every proper substring and every single-byte increment of ``key`` (as Go's tests)."""
    out = {key[i:j] for i in range(len(key) + 1) for j in range(i + 1, len(key) + 1)}
    out |= {key[:i] + chr(ord(key[i]) + 1) + key[i + 1 :] for i in range(len(key))}
    out.discard(key)
    return out


def test_mangled_verifier_keys_are_refused() -> None:
    """TestNewVerifier: no substring or one-byte change of a verifier key parses."""
    accepted = []
    for bad in _manglings(PETER_VKEY):
        try:
            NoteVerifier.parse(bad)
        except InvalidKeyError:
            continue
        accepted.append(bad)
    assert accepted == []


def test_mangled_signer_keys_are_refused() -> None:
    """TestNewSigner: no substring or one-byte change of a signer key parses."""
    accepted = []
    for bad in _manglings(PETER_SKEY):
        try:
            NoteSigner.parse(bad)
        except InvalidKeyError:
            continue
        accepted.append(bad)
    assert accepted == []


@pytest.mark.parametrize(
    "bad",
    [
        # Go's: wrong key length and unknown algorithm, each with a matching key id.
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        # Ours: key id as 0x-prefixed or underscored hex, which int(..., 16) would take.
        "PeterNeumann+0xc74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f_20a+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
        "+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_other_bad_verifier_keys_are_refused(bad: str) -> None:
    """Go's two adjusted-hash keys and the loopholes of a lax hex parser are refused."""
    with pytest.raises(InvalidKeyError):
        NoteVerifier.parse(bad)


def test_uppercase_key_id_is_accepted_as_go_does() -> None:
    """Go parses the key id with ParseUint(_, 16, 32): upper-case hex is the same id."""
    upper = PETER_VKEY.replace("c74f20a3", "C74F20A3")
    assert NoteVerifier.parse(upper).key_id == 0xC74F20A3


def test_generated_keys_round_trip_and_sign() -> None:
    """TestGenerateKey: a fresh key pair parses back and verifies its own signatures."""
    signer = NoteSigner.generate("audit.example/log")
    again = NoteSigner.parse(signer.private_key_string())
    verifier = NoteVerifier.parse(signer.verifier.key_string())
    assert again.verifier == verifier == signer.verifier
    signature = again.sign(b"hi")
    assert verifier.verify(b"hi", signature)
    assert not verifier.verify(b"hj", signature)
    assert not verifier.verify(b"hi", bytes([signature[0] ^ 1]) + signature[1:])
    assert not verifier.verify(b"hi", signature[:-1])


@pytest.mark.parametrize(
    "name", ["", "a+b", "a b", "a\tb", "a\nb", "a\u00a0b", "a\u2003b", "a\x7fb", "a\ud800b"]
)
def test_bad_key_names_are_refused(name: str) -> None:
    """Names are non-empty, without whitespace (Unicode too), '+' or control characters."""
    assert not is_valid_key_name(name)
    with pytest.raises(InvalidKeyError):
        NoteSigner.generate(name)


@pytest.mark.parametrize("name", ["PeterNeumann", "audit.example/log", "caf\u00e9", "x"])
def test_good_key_names_are_accepted(name: str) -> None:
    """URL-like and non-ASCII names are fine."""
    assert is_valid_key_name(name)
    assert NoteSigner.generate(name).name == name


def test_verifier_with_mismatched_key_id_cannot_be_built(peter: NoteVerifier) -> None:
    """A verifier's id is derived from name and key; a wrong one is refused at construction."""
    with pytest.raises(InvalidKeyError):
        NoteVerifier("PeterNeumann", peter.key_id ^ 1, peter.public_key)
    with pytest.raises(InvalidKeyError):
        NoteVerifier("PeterNeuman", peter.key_id, peter.public_key)


# -- notes ---------------------------------------------------------------------------------
def test_sign_reproduces_go_bytes_exactly() -> None:
    """TestSign: the published signer key signs the published text into the published note."""
    assert sign_note(TEXT, [NoteSigner.parse(PETER_SKEY)]) == SIGNED


# BenchmarkOpen's msg, verbatim (the em dash is U+2014).
GO_SIGNED_NOTE = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
    "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
    "gKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_open_go_note(peter: NoteVerifier) -> None:
    """TestOpen/BenchmarkOpen: the published note verifies with the published verifier key."""
    assert GO_SIGNED_NOTE == SIGNED
    note = open_note(GO_SIGNED_NOTE, [peter])
    assert note.text == TEXT
    assert note.signatures == (PETER,)
    assert note.unverified_signatures == ()


def test_open_keeps_unknown_signatures_aside(peter: NoteVerifier, enoch: NoteVerifier) -> None:
    """TestOpen: Enoch's signature is unverified with Peter trusted, verified with both."""
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter])
    assert (note.signatures, note.unverified_signatures) == ((PETER,), (ENOCH,))
    note = open_note(TEXT + "\n" + PETER_SIG + ENOCH_SIG, [peter, enoch])
    assert (note.signatures, note.unverified_signatures) == ((PETER, ENOCH), ())


def test_note_without_trusted_signature_names_the_keys(peter: NoteVerifier) -> None:
    """Unknown keys only: refused, and the error names the expected and the found keys."""
    with pytest.raises(UnverifiedNoteError) as caught:
        open_note(TEXT + "\n" + ENOCH_SIG, [peter])
    assert caught.value.expected == ("PeterNeumann+c74f20a3",)
    assert caught.value.found == ("EnochRoot+af0cfe78",)
    assert "PeterNeumann+c74f20a3" in str(caught.value)
    assert "EnochRoot+af0cfe78" in str(caught.value)


def test_same_name_other_key_id_is_an_unknown_key(peter: NoteVerifier) -> None:
    """C2SP: a signature sharing the name but not the id is ignored, not failed."""
    other = NoteSigner.generate("PeterNeumann")
    note = sign_note(TEXT, [other])
    with pytest.raises(UnverifiedNoteError) as caught:
        open_note(note, [peter])
    assert caught.value.found == (other.key_label,)


def test_invalid_signature_by_trusted_key_rejects_the_note(peter: NoteVerifier) -> None:
    """TestOpen "Invalid signature": a trusted key's bad signature fails the whole note."""
    mangled = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(InvalidSignatureError, match=r"PeterNeumann\+c74f20a3"):
        open_note(mangled, [peter])
    with pytest.raises(InvalidSignatureError):
        open_note("Another text.\n\n" + PETER_SIG, [peter])


def test_duplicate_signatures_are_collapsed(peter: NoteVerifier) -> None:
    """TestOpen "Duplicated verified and unverified signatures"."""
    enoch_abcd = NoteSignature(
        "EnochRoot", ENOCH.key_id, ENOCH.base64[:46] + "ABCD" + ENOCH.base64[46:]
    )
    # Go inserts "ABCD" at *byte* 60 of the line; the em dash is 3 bytes, 1 character.
    msg = TEXT + "\n" + PETER_SIG * 2 + ENOCH_SIG * 2 + f"— EnochRoot {enoch_abcd.base64}\n"
    note = open_note(msg, [peter])
    assert note.signatures == (PETER,)
    assert note.unverified_signatures == (ENOCH, enoch_abcd)


def test_too_many_signatures_is_malformed(peter: NoteVerifier) -> None:
    """TestOpen: 101 signature lines are refused before any is checked."""
    with pytest.raises(MalformedNoteError):
        open_note(TEXT + "\n" + PETER_SIG * 101, [peter])
    assert open_note(TEXT + "\n" + PETER_SIG * 100, [peter]).signatures == (PETER,)


@pytest.mark.parametrize(
    "bad",
    [
        # TestOpen's badMsgs, verbatim.
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + f"\u2014 Bad Name {PETER_B64}",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        # Go's "\xff" case is invalid UTF-8; in a str that is a lone surrogate.
        "\udcff" + TEXT + "\n" + PETER_SIG,
        # Ours: a hyphen instead of the em dash; a signature too short to hold a key id;
        # non-canonical base64; a CR in the text.
        TEXT + "\n- PeterNeumann " + PETER.base64 + "\n",
        TEXT + "\n— PeterNeumann AAAAAA==\n",
        TEXT + "\n— PeterNeumann " + PETER.base64[:-2] + "N=\n",
        TEXT.replace("\n", "\r\n", 1) + "\n" + PETER_SIG,
    ],
)
def test_malformed_notes_are_refused(bad: str, peter: NoteVerifier) -> None:
    """TestOpen "Invalid encoded message syntax": every one is a MalformedNoteError."""
    with pytest.raises(MalformedNoteError):
        open_note(bad, [peter])


def test_text_with_blank_lines_splits_at_the_last_one(peter: NoteVerifier) -> None:
    """C2SP: the text may hold empty lines; the last blank line starts the signatures."""
    signer = NoteSigner.parse(PETER_SKEY)
    text = "para one\n\npara two\n"
    note = open_note(sign_note(text, [signer]), [peter])
    assert note.text == text


@pytest.mark.parametrize("text", ["no newline", "tab\there\n", "", "cr\r\n"])
def test_sign_refuses_text_that_cannot_be_a_note(text: str) -> None:
    """TestSign "short text": the text ends in a newline and holds no control characters."""
    with pytest.raises(MalformedNoteError):
        sign_note(text, [NoteSigner.parse(PETER_SKEY)])


def test_sign_needs_a_signer() -> None:
    """An unsigned note cannot be opened by anyone, so it is not produced."""
    with pytest.raises(MalformedNoteError):
        sign_note(TEXT, [])


def test_two_signers_both_verify(peter: NoteVerifier) -> None:
    """A note signed by the log and a witness opens with either key trusted."""
    witness = NoteSigner.generate("witness.example/w1")
    note = sign_note(TEXT, [NoteSigner.parse(PETER_SKEY), witness])
    assert open_note(note, [peter]).unverified_signatures[0].name == "witness.example/w1"
    assert open_note(note, [witness.verifier]).signatures[0].name == "witness.example/w1"


def test_two_trusted_keys_with_the_same_name_and_id_are_ambiguous(peter: NoteVerifier) -> None:
    """Two trusted keys colliding on (name, key id) - 2**32 work to forge - fail the note.

    Constructors refuse a mismatched id, so the colliding twin is forged past them.
    """
    twin = NoteSigner.generate("PeterNeumann").verifier
    object.__setattr__(twin, "key_id", peter.key_id)
    with pytest.raises(AmbiguousKeyError, match=r"PeterNeumann\+c74f20a3"):
        open_note(SIGNED, [twin, peter])
    # The same verifier listed twice is not ambiguous.
    assert open_note(SIGNED, [peter, peter]).signatures == (PETER,)
