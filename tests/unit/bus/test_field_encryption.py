"""``bus.field_encryption``: personal fields sealed for one provider, opened by it only."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bus import (
    CIPHERTEXT_PREFIX,
    FieldEncryptionError,
    FieldOpener,
    FieldSealer,
    RecipientKey,
    encryption_key_text,
    load_encryption_private_key,
    load_encryption_public_key,
)

EXCHANGE = "01a2081c-ca49-7112-b3c7-0e332e01554d"
PATHS = ("nif", "subject.document_number", "social_security_number")
PROVIDER_KEY = X25519PrivateKey.generate()
RECIPIENT = RecipientKey("es.aeat-enc-1", PROVIDER_KEY.public_key())
DATUM: dict[str, Any] = {
    "nif": "70009654T",
    "fiscal_year": 2023,
    "subject": {"document_number": "X1234567L", "issuing_country": "ES"},
    "social_security_number": None,
}


def _sealed() -> tuple[dict[str, Any], str]:
    return FieldSealer().seal(DATUM, PATHS, exchange_id=EXCHANGE, recipient=RECIPIENT)


def test_sealed_fields_hide_the_identifiers_and_open_with_the_providers_key() -> None:
    """Every present personal field is ciphertext with the prefix, other fields and empty
    optional ones are untouched, and the provider's key opens the datum back exactly."""
    sealed, field_key = _sealed()
    assert sealed["nif"].startswith(CIPHERTEXT_PREFIX)
    assert sealed["subject"]["document_number"].startswith(CIPHERTEXT_PREFIX)
    assert "70009654T" not in repr(sealed) + field_key
    assert "X1234567L" not in repr(sealed) + field_key
    assert sealed["fiscal_year"] == 2023
    assert sealed["subject"]["issuing_country"] == "ES"
    assert sealed["social_security_number"] is None
    assert field_key.startswith("es.aeat-enc-1:")
    opener = FieldOpener({"es.aeat-enc-1": PROVIDER_KEY})
    assert opener.open(sealed, PATHS, exchange_id=EXCHANGE, field_key=field_key) == DATUM
    assert DATUM["nif"] == "70009654T"  # the input is never changed in place


def test_another_key_another_exchange_or_a_moved_field_does_not_open() -> None:
    """The data key opens only with the provider's private key and this exchange id; a
    ciphertext moved to another field fails its authentication."""
    sealed, field_key = _sealed()
    other = FieldOpener({"es.aeat-enc-1": X25519PrivateKey.generate()})
    with pytest.raises(FieldEncryptionError, match="does not open"):
        other.open(sealed, PATHS, exchange_id=EXCHANGE, field_key=field_key)
    opener = FieldOpener({"es.aeat-enc-1": PROVIDER_KEY})
    with pytest.raises(FieldEncryptionError, match="does not open"):
        opener.open(sealed, PATHS, exchange_id=EXCHANGE[:-1] + "e", field_key=field_key)
    moved = {**sealed, "nif": sealed["subject"]["document_number"]}
    with pytest.raises(FieldEncryptionError, match="'nif' does not open"):
        opener.open(moved, PATHS, exchange_id=EXCHANGE, field_key=field_key)


def test_tampered_ciphertext_unknown_key_id_and_clear_fields_are_refused() -> None:
    """A flipped ciphertext character, a key id the connector does not hold, a missing
    field key and a personal field in clear are each refused by name, never a crash."""
    sealed, field_key = _sealed()
    opener = FieldOpener({"es.aeat-enc-1": PROVIDER_KEY})
    text = sealed["nif"]
    flipped = text[:-2] + ("A" if text[-2] != "A" else "B") + text[-1]
    with pytest.raises(FieldEncryptionError):
        opener.open({**sealed, "nif": flipped}, PATHS, exchange_id=EXCHANGE, field_key=field_key)
    unknown = "es.aeat-enc-9:" + field_key.split(":", 1)[1]
    with pytest.raises(FieldEncryptionError, match=r"no private key 'es\.aeat-enc-9'"):
        opener.open(sealed, PATHS, exchange_id=EXCHANGE, field_key=unknown)
    with pytest.raises(FieldEncryptionError, match="without interop_field_key"):
        opener.open(sealed, PATHS, exchange_id=EXCHANGE, field_key=None)
    with pytest.raises(FieldEncryptionError, match="'nif' arrived in clear"):
        opener.open(
            {**sealed, "nif": "70009654T"}, PATHS, exchange_id=EXCHANGE, field_key=field_key
        )
    for bad in ("nokeyid", "k:!!", "k:" + "A" * 20):
        with pytest.raises(FieldEncryptionError):
            opener.open(sealed, PATHS, exchange_id=EXCHANGE, field_key=bad)


def test_a_non_string_personal_field_is_refused_and_keys_round_trip_as_text() -> None:
    """Only strings carry ciphertext; keys survive their base64 text form."""
    with pytest.raises(FieldEncryptionError, match="not a string"):
        FieldSealer().seal({"nif": 7}, ("nif",), exchange_id=EXCHANGE, recipient=RECIPIENT)
    private = load_encryption_private_key(encryption_key_text(PROVIDER_KEY))
    public = load_encryption_public_key(encryption_key_text(PROVIDER_KEY.public_key()))
    assert encryption_key_text(private.public_key()) == encryption_key_text(public)
    with pytest.raises(FieldEncryptionError, match="not 32 bytes"):
        load_encryption_public_key("AAAA")
