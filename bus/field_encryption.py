"""Personal fields encrypted for the provider, in the manner of client-side field-level
encryption: stock Avro tooling still decodes the record and sees only ciphertext there.

A contract version names its personal fields (``personal_fields``, the subject's
identifier among them; each an Avro ``string``). Before the gateway encodes a request it
seals them for the exchange's provider:

* one random data key per record (AES-256-GCM); each personal field's value becomes
  ``enc:v1:<base64url(nonce || ciphertext)>``, authenticated with the exchange id and the
  field's path, so a ciphertext cannot be moved to another field or another exchange;
* the data key is wrapped for the provider's X25519 public key (an ephemeral X25519
  agreement, HKDF-SHA256 bound to the exchange id, AES-256-GCM: ECIES in the HPKE base
  mode's shape) and travels in the signed ``interop_field_key`` header as
  ``<key id>:<base64url(ephemeral public key || nonce || wrapped key)>``.

Only a holder of the provider's private key (its connector) reads those fields; an
operator reading the topics, a backup and a dead-letter topic see ciphertext. A personal
field left in clear, a key id the connector does not hold, or a ciphertext that does not
authenticate is refused (``FieldEncryptionError``) and never reaches a registry.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bus.errors import BusError

__all__ = [
    "CIPHERTEXT_PREFIX",
    "FieldEncryptionError",
    "FieldOpener",
    "FieldSealer",
    "RecipientKey",
    "encryption_key_text",
    "load_encryption_private_key",
    "load_encryption_public_key",
]

CIPHERTEXT_PREFIX: Final = "enc:v1:"
_NONCE: Final = 12
_KEY: Final = 32
_INFO: Final = b"interop-bus/field-key/v1/"
_HEADER_RE: Final = re.compile(r"^(?P<kid>[A-Za-z0-9._-]{1,100}):(?P<blob>[A-Za-z0-9_-]+)$")
_WRAPPED_LEN: Final = 32 + _NONCE + _KEY + 16


class FieldEncryptionError(BusError):
    """A personal field cannot be sealed or opened (a clear value, an unknown key id, a
    ciphertext or key that does not authenticate). The message names fields, never values."""

    code = "FIELD_ENCRYPTION_FAILED"


@dataclass(frozen=True, slots=True)
class RecipientKey:
    """A provider's public encryption key and its id (from the members file)."""

    key_id: str
    public_key: X25519PublicKey


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise FieldEncryptionError("not base64url") from None


def _kek(shared: bytes, exchange_id: str) -> bytes:
    return HKDF(hashes.SHA256(), _KEY, salt=None, info=_INFO + exchange_id.encode()).derive(shared)


def _aad(exchange_id: str, path: str) -> bytes:
    return f"{exchange_id}/{path}".encode()


class FieldSealer:
    """The gateway's side: seals a request datum's personal fields for its provider."""

    def seal(
        self,
        datum: Mapping[str, Any],
        paths: Sequence[str],
        *,
        exchange_id: str,
        recipient: RecipientKey,
    ) -> tuple[dict[str, Any], str]:
        """A copy of ``datum`` with every present personal field sealed, and the
        ``interop_field_key`` header value that lets ``recipient`` open them."""
        data_key = AESGCM.generate_key(bit_length=256)
        cipher = AESGCM(data_key)
        sealed = _copy(datum)
        for path in paths:
            parent, name = _parent(sealed, path)
            value = None if parent is None else parent.get(name)
            if parent is None or value is None:
                continue  # an optional field left empty: nothing to hide
            if not isinstance(value, str):
                raise FieldEncryptionError(f"personal field {path!r} is not a string")
            nonce = os.urandom(_NONCE)
            ciphertext = cipher.encrypt(nonce, value.encode("utf-8"), _aad(exchange_id, path))
            parent[name] = CIPHERTEXT_PREFIX + _b64(nonce + ciphertext)
        ephemeral = X25519PrivateKey.generate()
        kek = _kek(ephemeral.exchange(recipient.public_key), exchange_id)
        nonce = os.urandom(_NONCE)
        wrapped = AESGCM(kek).encrypt(nonce, data_key, exchange_id.encode())
        blob = _raw_public(ephemeral.public_key()) + nonce + wrapped
        return sealed, f"{recipient.key_id}:{_b64(blob)}"


class FieldOpener:
    """The connector's side: opens the personal fields sealed for its provider."""

    def __init__(self, keys: Mapping[str, X25519PrivateKey]) -> None:
        self._keys = dict(keys)
        """Key id -> private key (several during a rotation)."""

    @property
    def key_ids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def open(
        self,
        datum: Mapping[str, Any],
        paths: Sequence[str],
        *,
        exchange_id: str,
        field_key: str | None,
    ) -> dict[str, Any]:
        """A copy of ``datum`` with every personal field in clear; ``FieldEncryptionError``
        if one is not sealed, the key is not ours, or anything fails to authenticate."""
        present = [p for p in paths if _get(datum, p) is not None]
        if not present:
            return _copy(datum)
        if field_key is None:
            raise FieldEncryptionError("personal fields came without interop_field_key")
        cipher = AESGCM(self._data_key(field_key, exchange_id))
        opened = _copy(datum)
        for path in present:
            parent, name = _parent(opened, path)
            value = None if parent is None else parent.get(name)
            if parent is None:  # pragma: no cover - present above, so its parent exists
                continue
            if not isinstance(value, str) or not value.startswith(CIPHERTEXT_PREFIX):
                raise FieldEncryptionError(f"personal field {path!r} arrived in clear")
            raw = _unb64(value.removeprefix(CIPHERTEXT_PREFIX))
            try:
                clear = cipher.decrypt(raw[:_NONCE], raw[_NONCE:], _aad(exchange_id, path))
                parent[name] = clear.decode("utf-8")
            except (InvalidTag, ValueError, UnicodeDecodeError):
                raise FieldEncryptionError(f"personal field {path!r} does not open") from None
        return opened

    def _data_key(self, field_key: str, exchange_id: str) -> bytes:
        match = _HEADER_RE.fullmatch(field_key)
        if match is None:
            raise FieldEncryptionError("interop_field_key is not <key id>:<base64url>")
        private = self._keys.get(match["kid"])
        if private is None:
            raise FieldEncryptionError(f"no private key {match['kid']!r} for the field key")
        blob = _unb64(match["blob"])
        if len(blob) != _WRAPPED_LEN:
            raise FieldEncryptionError("interop_field_key has the wrong length")
        ephemeral = X25519PublicKey.from_public_bytes(blob[:32])
        try:
            kek = _kek(private.exchange(ephemeral), exchange_id)
            nonce, wrapped = blob[32 : 32 + _NONCE], blob[32 + _NONCE :]
            return AESGCM(kek).decrypt(nonce, wrapped, exchange_id.encode())
        except (InvalidTag, ValueError):
            raise FieldEncryptionError("the field key does not open with our key") from None


# -- keys --------------------------------------------------------------------------------
def _raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def encryption_key_text(key: X25519PublicKey | X25519PrivateKey) -> str:
    """A raw 32-byte X25519 key in standard base64 (what files and the members file hold)."""
    if isinstance(key, X25519PrivateKey):
        raw = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
    else:
        raw = _raw_public(key)
    return base64.b64encode(raw).decode("ascii")


def _raw32(text: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise FieldEncryptionError(f"the {what} is not base64") from None
    if len(raw) != 32:
        raise FieldEncryptionError(f"the {what} is not 32 bytes")
    return raw


def load_encryption_public_key(text: str) -> X25519PublicKey:
    """An X25519 public key from its raw 32-byte base64 form."""
    return X25519PublicKey.from_public_bytes(_raw32(text, "encryption public key"))


def load_encryption_private_key(text: str) -> X25519PrivateKey:
    """An X25519 private key from its raw 32-byte base64 form (never logged)."""
    return X25519PrivateKey.from_private_bytes(_raw32(text, "encryption private key"))


# -- datum paths -------------------------------------------------------------------------
def _copy(datum: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _copy(v) if isinstance(v, Mapping) else v for k, v in datum.items()}


def _parent(datum: dict[str, Any], path: str) -> tuple[dict[str, Any] | None, str]:
    *parents, name = path.split(".")
    node: Any = datum
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    return (node if isinstance(node, dict) else None), name


def _get(datum: Mapping[str, Any], path: str) -> Any:
    node: Any = datum
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node
