"""Fixed signing keys of the test members: the gateway and the catalogue's providers.

Integration tests run with reply and audit-event verification on, as production does: the
members file lists these public keys (``members_file_entries``), the gateway signs with
``GATEWAY``, a provider's connector or responder with ``signer_of(member)``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bus import encryption_key_text
from bus.header_values import format_time
from bus.record_signing import RecordSigner, private_key_text, public_key_text

__all__ = [
    "GATEWAY_MEMBER",
    "PROVIDERS",
    "field_keys_of",
    "gateway_signing_settings",
    "key_id_of",
    "members_file_entries",
    "private_key_of",
    "public_key_text_of",
    "retired_key",
    "signer_of",
]

GATEWAY_MEMBER: Final = "interop.gateway"
PROVIDERS: Final = ("es.ine.padron", "es.aeat", "es.tgss")


def _key(member: str) -> Ed25519PrivateKey:
    # Deterministic per member: every process of a test derives the same key.
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(member.encode()).digest())


def key_id_of(member: str) -> str:
    """The test key id of ``member``."""
    return f"{member}-it-1"


def signer_of(member: str) -> RecordSigner:
    """``member``'s record signer."""
    return RecordSigner(key_id_of(member), _key(member))


def public_key_text_of(member: str) -> str:
    """``member``'s public signing key as settings take it (raw base64)."""
    return public_key_text(_key(member).public_key())


def private_key_of(member: str) -> str:
    """``member``'s private key as settings take it (raw base64)."""
    return private_key_text(_key(member))


def _encryption_key(member: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(
        hashlib.sha256(b"field-key/" + member.encode()).digest()
    )


def field_keys_of(member: str) -> dict[str, str]:
    """``member``'s connector ``field_keys`` setting (key id -> X25519 private key)."""
    return {f"{member}-enc-1": encryption_key_text(_encryption_key(member))}


def gateway_signing_settings() -> dict[str, str]:
    """The gateway's ``signing`` settings section."""
    return {"key_id": key_id_of(GATEWAY_MEMBER), "private_key": private_key_of(GATEWAY_MEMBER)}


def members_file_entries(
    providers: tuple[str, ...] = PROVIDERS,
    extra_keys: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
    encrypt_for: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Members-file entries for the gateway and ``providers``, with their public keys
    (and ``extra_keys``: member -> more ``signing_keys`` entries, e.g. for a rotation;
    ``encrypt_for``: providers that list an encryption key, ``field_keys_of``'s)."""
    entries = [(GATEWAY_MEMBER, "gateway"), *((p, "provider") for p in providers)]
    extra = extra_keys or {}
    documents: list[dict[str, Any]] = []
    for member, role in entries:
        document: dict[str, Any] = {
            "id": member,
            "name": f"Test {member}",
            "roles": [role],
            "signing_keys": [
                {
                    "key_id": key_id_of(member),
                    "public_key": public_key_text(_key(member).public_key()),
                },
                *(dict(entry) for entry in extra.get(member, ())),
            ],
        }
        if member in encrypt_for:
            document["encryption_keys"] = [
                {
                    "key_id": f"{member}-enc-1",
                    "public_key": encryption_key_text(_encryption_key(member).public_key()),
                }
            ]
        documents.append(document)
    return documents


def retired_key(
    member: str, *, retired_ago: timedelta
) -> tuple[RecordSigner, dict[str, list[dict[str, str]]]]:
    """A fresh key of ``member``'s, valid for the year before it was retired
    ``retired_ago``, and its ``extra_keys`` entry: still listed, as a rotation leaves it.
    Whoever kept the private key could date records back into its window."""
    now = datetime.now(UTC)
    signer = RecordSigner(f"{member}-it-0", Ed25519PrivateKey.generate())
    entry = {
        "key_id": signer.key_id,
        "public_key": public_key_text(signer.public_key),
        "not_before": format_time(now - retired_ago - timedelta(days=365)),
        "not_after": format_time(now - retired_ago),
    }
    return signer, {member: [entry]}
