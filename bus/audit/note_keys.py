"""Ed25519 keys for C2SP signed notes, in the string forms of Go's ``sumdb/note`` package.

* verifier key: ``<name>+<key id, 8 hex>+<base64(0x01 || 32-byte public key)>``, what
  ``note.NewVerifier`` reads and what auditors configure to check checkpoints;
* signer key: ``PRIVATE+KEY+<name>+<key id>+<base64(0x01 || 32-byte seed)>``, what
  ``note.NewSigner`` reads; it is a secret (keep it in a ``SecretStr`` setting).

The key id is the first four bytes (big-endian) of
SHA-256(name || 0x0A || 0x01 || public key), per C2SP ``signed-note``. Key names are
non-empty and hold no whitespace, no ``+`` and no control characters. Parsing is strict:
canonical base64 only, and the key id must match the key. ``cryptography`` is called here
and nowhere else in the note code; its errors are translated at this boundary.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from typing import Final, Self

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from bus.audit.errors import InvalidKeyError

__all__ = [
    "ALG_ED25519",
    "NoteSigner",
    "NoteVerifier",
    "check_key_name",
    "decode_base64_strict",
    "is_valid_key_name",
    "key_id",
]

ALG_ED25519: Final = 0x01
"""The signed-note signature type byte of Ed25519."""

_KEY_SIZE: Final = 32
_SIGNATURE_SIZE: Final = 64
_KEY_ID_HEX: Final = re.compile(r"[0-9a-fA-F]{8}")
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"


def is_valid_key_name(name: object) -> bool:
    """True if ``name`` may name a note key: non-empty, no whitespace, ``+`` or controls."""
    if not isinstance(name, str) or not name or "+" in name:
        return False
    # Control characters cannot appear in a signed note at all, so a name holding one
    # could never sign; surrogates are not UTF-8, so they cannot be written out either.
    return not any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in name) and (
        _encodes_as_utf8(name)
    )


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name; raise ``InvalidKeyError`` otherwise."""
    if not is_valid_key_name(name):
        raise InvalidKeyError(
            f"key name {name!r} must be non-empty, without whitespace, '+' or control characters"
        )
    return name


def key_id(name: str, public_key: bytes) -> int:
    """The 32-bit key id of an Ed25519 key: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    digest = hashlib.sha256(
        name.encode("utf-8") + b"\n" + bytes([ALG_ED25519]) + public_key
    ).digest()
    return int.from_bytes(digest[:4], "big")


def decode_base64_strict(text: str) -> bytes | None:
    """Standard padded base64, canonical form only; None if ``text`` is anything else."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        return None
    # Non-canonical encodings (stray trailing bits) would make one key have many spellings.
    return raw if base64.b64encode(raw).decode("ascii") == text else None


def _split_key(text: str, parts: int) -> list[str]:
    pieces = text.split("+", parts - 1)
    if len(pieces) != parts:
        raise InvalidKeyError("a note key string has the form name+keyid+base64key")
    return pieces


def _parse_key_body(name: str, key_id_hex: str, key_b64: str, what: str) -> tuple[int, bytes]:
    """Validate name, key id and ``0x01 || 32 bytes``; return (key id, 32 key bytes)."""
    check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(key_id_hex):
        raise InvalidKeyError(f"{what} {name}: key id {key_id_hex!r} is not 8 hex digits")
    raw = decode_base64_strict(key_b64)
    if raw is None or len(raw) == 0:
        raise InvalidKeyError(f"{what} {name}: the key is not canonical base64")
    if raw[0] != ALG_ED25519:
        raise InvalidKeyError(f"{what} {name}: unknown signature algorithm {raw[0]:#04x}")
    if len(raw) != 1 + _KEY_SIZE:
        raise InvalidKeyError(f"{what} {name}: an Ed25519 key is {_KEY_SIZE} bytes")
    return int(key_id_hex, 16), raw[1:]


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: checks signatures made by the matching ``NoteSigner``."""

    name: str
    key_id: int
    public_key: bytes = field(repr=False)
    _key: Ed25519PublicKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        if not isinstance(self.public_key, bytes) or len(self.public_key) != _KEY_SIZE:
            raise InvalidKeyError(f"an Ed25519 public key is {_KEY_SIZE} bytes")
        if self.key_id != key_id(self.name, self.public_key):
            raise InvalidKeyError(f"key id {self.key_id!r} is not the id of key {self.name}")
        try:
            loaded = Ed25519PublicKey.from_public_bytes(self.public_key)
        except ValueError as exc:
            raise InvalidKeyError(f"key {self.name} is not an Ed25519 public key") from exc
        # Frozen dataclass: the loaded key is set once, here, and never changes.
        object.__setattr__(self, "_key", loaded)

    @classmethod
    def from_public_key(cls, name: str, public_key: bytes) -> Self:
        """The verifier for a raw 32-byte Ed25519 public key under ``name``."""
        check_key_name(name)
        if not isinstance(public_key, bytes):
            raise InvalidKeyError(f"an Ed25519 public key is {_KEY_SIZE} bytes")
        return cls(name, key_id(name, public_key), public_key)

    @classmethod
    def parse(cls, vkey: str) -> Self:
        """Read a verifier key string ``name+keyid+base64(0x01 || key)``."""
        if not isinstance(vkey, str):
            raise InvalidKeyError("a verifier key is a string")
        name, key_id_hex, key_b64 = _split_key(vkey, 3)
        kid, public_key = _parse_key_body(name, key_id_hex, key_b64, "verifier key")
        if kid != key_id(name, public_key):
            raise InvalidKeyError(f"verifier key {name}: key id {key_id_hex} does not match")
        return cls(name, kid, public_key)

    def key_string(self) -> str:
        """The verifier key string (public: safe to print, log and configure)."""
        encoded = base64.b64encode(bytes([ALG_ED25519]) + self.public_key).decode("ascii")
        return f"{self.name}+{self.key_id:08x}+{encoded}"

    def __str__(self) -> str:
        return self.key_string()

    @property
    def key_label(self) -> str:
        """``name+keyid``, how errors and signature lines identify the key."""
        return f"{self.name}+{self.key_id:08x}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """True iff ``signature`` is this key's Ed25519 signature of ``message``."""
        if len(signature) != _SIGNATURE_SIZE:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class NoteSigner:
    """A secret Ed25519 note key. ``repr`` and ``str`` never show the seed."""

    name: str
    key_id: int
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        check_key_name(self.name)
        public_key = self._private.public_key().public_bytes_raw()
        if self.key_id != key_id(self.name, public_key):
            raise InvalidKeyError(f"key id {self.key_id!r} is not the id of key {self.name}")

    @classmethod
    def generate(cls, name: str) -> Self:
        """A new random key named ``name``."""
        check_key_name(name)
        return cls._from_private(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Self:
        """The key with this 32-byte Ed25519 seed (RFC 8032 private key)."""
        check_key_name(name)
        if not isinstance(seed, bytes) or len(seed) != _KEY_SIZE:
            raise InvalidKeyError(f"an Ed25519 seed is {_KEY_SIZE} bytes")
        return cls._from_private(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def _from_private(cls, name: str, private: Ed25519PrivateKey) -> Self:
        public_key = private.public_key().public_bytes_raw()
        return cls(name, key_id(name, public_key), private)

    @classmethod
    def parse(cls, skey: str) -> Self:
        """Read a signer key string ``PRIVATE+KEY+name+keyid+base64(0x01 || seed)``."""
        # Messages never quote the string: it is a secret.
        if not isinstance(skey, str) or not skey.startswith(_PRIVATE_PREFIX):
            raise InvalidKeyError("a signer key starts with PRIVATE+KEY+")
        name, key_id_hex, key_b64 = _split_key(skey.removeprefix(_PRIVATE_PREFIX), 3)
        kid, seed = _parse_key_body(name, key_id_hex, key_b64, "signer key")
        signer = cls.from_seed(name, seed)
        # The id names the *public* key, so it can only be checked after deriving it.
        if signer.key_id != kid:
            raise InvalidKeyError(f"signer key {name}: key id {key_id_hex} does not match")
        return signer

    def private_key_string(self) -> str:
        """The signer key string. A secret: store it as such, never log it."""
        seed = self._private.private_bytes_raw()
        encoded = base64.b64encode(bytes([ALG_ED25519]) + seed).decode("ascii")
        return f"{_PRIVATE_PREFIX}{self.name}+{self.key_id:08x}+{encoded}"

    def __str__(self) -> str:
        return f"NoteSigner({self.key_label})"

    @property
    def key_label(self) -> str:
        """``name+keyid``, how errors and signature lines identify the key."""
        return f"{self.name}+{self.key_id:08x}"

    @property
    def verifier(self) -> NoteVerifier:
        """The public half, to hand to auditors."""
        return NoteVerifier(self.name, self.key_id, self._private.public_key().public_bytes_raw())

    def sign(self, message: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``message`` (deterministic, RFC 8032)."""
        return self._private.sign(message)
