"""``interop contracts check``: the shipped catalogue passes; each kind of breaking edit fails.

Each test copies the shipped catalogue and its lock file into a temporary folder, makes
one edit, and runs the real command line (``interop.cli.main``).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.catalogue import DEFAULT_CATALOGUE_DIR
from contracts.lockfile import LOCK_FILE_NAME, LockFile
from interop.cli import main

RESIDENCE = Path("register/residence-certificate")


@pytest.fixture
def catalogue(tmp_path: Path) -> Path:
    """A private copy of the shipped catalogue and lock file."""
    root = tmp_path / "services"
    shutil.copytree(DEFAULT_CATALOGUE_DIR, root)
    shutil.copy(DEFAULT_CATALOGUE_DIR.parent / LOCK_FILE_NAME, tmp_path / LOCK_FILE_NAME)
    return root


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")


def _run(catalogue: Path, *extra: str) -> int:
    return main(["contracts", "check", "--catalogue", str(catalogue), *extra])


def _add_minor(catalogue: Path, change: Callable[[Any], None]) -> Path:
    """Add register.residence-certificate 1.2 = 1.1 with ``change`` applied to its request."""
    service = catalogue / RESIDENCE
    shutil.copytree(service / "1.1", service / "1.2")
    meta = service / "service.yaml"
    meta.write_text(
        meta.read_text(encoding="utf-8")
        + '  "1.2":\n    status: active\n    subject_fields: [document_number]\n',
        encoding="utf-8",
    )
    _edit(service / "1.2" / "request.avsc", change)
    return service / "1.2" / "request.avsc"


def test_the_shipped_catalogue_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """The demo catalogue and its committed lock file are clean (exit 0, no problem lines)."""
    assert main(["contracts", "check"]) == 0
    assert capsys.readouterr().out == ""


def test_an_edited_published_schema_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Changing a locked schema's type is caught by its fingerprint."""
    _edit(
        catalogue / RESIDENCE / "1.0" / "request.avsc",
        lambda s: s["fields"][2].update(type=["null", "bytes"]),
    )
    assert _run(catalogue) == 1
    out = capsys.readouterr().out
    assert "register/residence-certificate/1.0/request.avsc" in out
    assert "[edited-published-schema]" in out


def test_a_doc_only_edit_to_a_published_schema_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Canonical form ignores docs and defaults; the definition digest does not."""
    _edit(catalogue / RESIDENCE / "1.0" / "request.avsc", lambda s: s.update(doc="Other."))
    assert _run(catalogue) == 1
    assert "(docs, defaults or aliases)" in capsys.readouterr().out


def test_an_incompatible_minor_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A minor that changes a field's type breaks FULL_TRANSITIVE against 1.0 and 1.1."""
    _add_minor(catalogue, lambda s: s["fields"][2].update(type=["null", "int"]))
    assert _run(catalogue, "--lock") == 1
    lines = capsys.readouterr().out.splitlines()
    incompatible = [line for line in lines if "[incompatible-minor]" in line]
    # 1.2 vs 1.0 and vs 1.1, each in both directions.
    assert len(incompatible) == 4
    assert any("1.2 cannot read data written with 1.0" in line for line in incompatible)


def test_a_field_added_without_default_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A field added in a minor needs a default: lint says so, and so does compatibility."""
    _add_minor(
        catalogue,
        lambda s: s["fields"].append({"name": "channel", "type": "string", "doc": "Channel."}),
    )
    assert _run(catalogue, "--lock") == 1
    out = capsys.readouterr().out
    assert "[added-field-without-default]" in out
    assert "[incompatible-minor]" in out


def test_a_missing_doc_is_refused(catalogue: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A field without a doc is a lint error."""
    _add_minor(
        catalogue,
        lambda s: s["fields"].append({"name": "channel", "type": "string", "default": ""}),
    )
    assert _run(catalogue, "--lock") == 1
    out = capsys.readouterr().out
    assert "field es.interop.register.residence_certificate.v1." in out
    assert "channel has no doc [no-doc]" in out


def test_a_missing_namespace_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A top-level record without a namespace is a lint error (and renames the record)."""
    _add_minor(catalogue, lambda s: s.pop("namespace"))
    assert _run(catalogue, "--lock") == 1
    assert "has no namespace [no-namespace]" in capsys.readouterr().out


def test_an_unlocked_version_fails_until_locked(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new compatible minor is reported as unpublished; --lock assigns it new ids."""
    _add_minor(
        catalogue,
        lambda s: s["fields"].append(
            {"name": "channel", "type": ["null", "string"], "default": None, "doc": "Channel."}
        ),
    )
    assert _run(catalogue) == 1
    assert "[not-locked]" in capsys.readouterr().out
    before = LockFile.load(catalogue.parent / LOCK_FILE_NAME)
    assert _run(catalogue, "--lock") == 0
    after = LockFile.load(catalogue.parent / LOCK_FILE_NAME)
    request = after.entry("register.residence-certificate", "1.2", "request")
    response = after.entry("register.residence-certificate", "1.2", "response")
    assert request is not None
    assert request.id == max(e.id for e in before.schemas) + 1
    # The 1.2 response is 1.1's, unchanged: it shares 1.1's id, as in a Schema Registry.
    assert response is not None
    assert response.id == before.entry("register.residence-certificate", "1.1", "response").id  # type: ignore[union-attr]
    assert _run(catalogue) == 0


def test_a_removed_published_version_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Deleting a published version from the catalogue is caught through the lock file."""
    service = catalogue / "tax" / "income-band"
    shutil.rmtree(service / "1.1")
    meta = service / "service.yaml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(
        text.replace('  "1.1":\n    status: active\n    subject_fields: [nif]\n', ""),
        encoding="utf-8",
    )
    assert _run(catalogue) == 1
    assert "[published-schema-removed]" in capsys.readouterr().out


def test_a_malformed_schema_file_is_one_error_line(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Invalid JSON in an .avsc is reported with the file, line and column."""
    (catalogue / RESIDENCE / "1.0" / "request.avsc").write_text('{"type": ', encoding="utf-8")
    assert _run(catalogue) == 1
    err = capsys.readouterr().err
    assert "[CONTRACT_SCHEMA_INVALID]" in err
    assert "1.0/request.avsc: at line 1, column 10" in err


def test_asyncapi_writes_a_document(catalogue: Path, tmp_path: Path) -> None:
    """``interop contracts asyncapi -o FILE`` writes an AsyncAPI 3.0 JSON document."""
    target = tmp_path / "asyncapi.json"
    assert main(["contracts", "asyncapi", "--catalogue", str(catalogue), "-o", str(target)]) == 0
    document = json.loads(target.read_text(encoding="utf-8"))
    assert document["asyncapi"] == "3.0.0"
    assert document["channels"]["tax.income-band.v1"]["address"] == "interop.req.tax.income-band.v1"


def test_a_version_without_subject_fields_is_refused(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every version must name the request field(s) that identify the subject."""
    meta = catalogue / "tax" / "income-band" / "service.yaml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(text.replace("    subject_fields: [nif]\n", "", 1), encoding="utf-8")
    assert _run(catalogue) == 1
    assert "subject_fields" in capsys.readouterr().err


def test_subject_fields_must_name_a_string_field_of_the_request(
    catalogue: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A subject field that is absent or not a string (fiscal_year is an int) is refused."""
    meta = catalogue / "tax" / "income-band" / "service.yaml"
    text = meta.read_text(encoding="utf-8")
    meta.write_text(
        text.replace("subject_fields: [nif]", "subject_fields: [fiscal_year]", 1),
        encoding="utf-8",
    )
    assert _run(catalogue) == 1
    err = capsys.readouterr().err
    assert "'fiscal_year' is not a string field of the request schema" in err
