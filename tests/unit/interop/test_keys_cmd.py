"""``interop keys new``: a 0600 private key file and a members-file entry that loads."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from bus import EncryptionKey, FieldOpener, FieldSealer, load_encryption_private_key
from bus.member_keys import member_keys_from_mapping
from bus.record_signing import RecordSigner, load_private_key_file
from interop.cli import main


def test_keys_new_writes_a_private_key_0600_and_prints_a_loadable_entry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The printed entry, pasted under the member, verifies what the private key signs."""
    out = tmp_path / "keys" / "aeat.key"
    code = main(["keys", "new", "--member", "es.aeat", "--key-id", "es.aeat-k1", "--out", str(out)])
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    printed = capsys.readouterr().out
    entry = yaml.safe_load(
        "\n".join(line for line in printed.splitlines()[1:] if not line.startswith("#"))
    )
    keys = member_keys_from_mapping(
        {"members": [{"id": "es.aeat", "roles": ["provider"], **entry}]}, "printed"
    )
    (key,) = keys.keys_of("es.aeat")
    assert key.key_id == "es.aeat-k1"
    assert key.not_before is not None
    assert key.not_after is not None
    assert key.not_after > key.not_before
    signer = RecordSigner(key.key_id, load_private_key_file(out))
    headers = signer.sign_headers([("content-type", b"application/avro")], b"value")
    assert keys.verify(headers, b"value", at=key.not_before).member == "es.aeat"
    assert "PRIVATE" not in printed
    assert out.read_text().strip() not in printed


def test_keys_new_never_overwrites_a_key(tmp_path: Path) -> None:
    """A second run with the same file fails (exit 1) and leaves the first key as it was."""
    out = tmp_path / "k.key"
    assert main(["keys", "new", "--member", "es.aeat", "--out", str(out)]) == 0
    before = out.read_bytes()
    assert main(["keys", "new", "--member", "es.aeat", "--out", str(out)]) == 1
    assert out.read_bytes() == before


def test_keys_new_refuses_a_bad_member_id(tmp_path: Path) -> None:
    """The member id is checked before any key is made."""
    out = tmp_path / "k.key"
    assert main(["keys", "new", "--member", "Not A Member", "--out", str(out)]) == 1
    assert not out.exists()


def test_keys_new_encryption_makes_a_provider_key_that_opens_what_is_sealed_for_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--encryption``: the printed ``encryption_keys`` entry, as the gateway reads it,
    seals fields that the private key file (the connector's ``field_keys``) opens."""
    out = tmp_path / "keys" / "aeat-enc.key"
    code = main(
        [
            "keys",
            "new",
            "--member",
            "es.aeat",
            "--key-id",
            "aeat-e1",
            "--encryption",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    printed = capsys.readouterr().out
    assert "encryption_keys:" in printed
    document = yaml.safe_load(
        "\n".join(line for line in printed.splitlines()[1:] if not line.startswith("#"))
    )
    (entry,) = [EncryptionKey.model_validate(e) for e in document["encryption_keys"]]
    assert entry.key_id == "aeat-e1"
    sealed, field_key = FieldSealer().seal(
        {"nif": "70009654T"}, ("nif",), exchange_id="x-1", recipient=entry.recipient()
    )
    opener = FieldOpener({"aeat-e1": load_encryption_private_key(out.read_text())})
    assert opener.open(sealed, ("nif",), exchange_id="x-1", field_key=field_key) == {
        "nif": "70009654T"
    }
    assert out.read_text().strip() not in printed
