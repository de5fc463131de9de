"""How a requested version text resolves against a service's versions."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from contracts import load_catalogue
from gateway.catalogue_api import resolve_version
from gateway.errors import UnknownVersionError

CATALOGUE = load_catalogue()


def test_major_resolves_to_the_newest_served_minor() -> None:
    """`1` means the newest minor of major 1; `2` the only minor of major 2."""
    service = CATALOGUE.services["register.residence-certificate"]
    assert str(resolve_version(service, "1").version) == "1.1"
    assert str(resolve_version(service, "2").version) == "2.0"


def test_exact_minor_is_served_even_when_deprecated() -> None:
    """A deprecated minor is still served when asked for by its full number."""
    service = CATALOGUE.services["register.residence-certificate"]
    item = resolve_version(service, "1.0")
    assert str(item.version) == "1.0"
    assert item.meta.status.value == "deprecated"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("3", "no served version in major 3"),
        ("1.7", "has no version 1.7"),
        ("1.", "is not a version"),
        ("v1", "is not a version"),
        ("01", "is not a version"),
        ("1.1.1", "is not a version"),
        ("", "is not a version"),
        ("1e3", "is not a version"),
        ("9999999999", "is not a version"),
        ("'; DROP TABLE", "is not a version"),
    ],
)
def test_unknown_or_malformed_versions_are_refused(text: str, reason: str) -> None:
    """Every wrong version text is a 404 UNKNOWN_VERSION saying why."""
    service = CATALOGUE.services["tax.income-band"]
    with pytest.raises(UnknownVersionError, match=reason):
        resolve_version(service, text)


def test_sunset_minor_is_refused_and_skipped_by_major(tmp_path: Path) -> None:
    """A sunset minor is never served: asked for exactly it is 404; `1` picks the next one."""
    root = tmp_path / "services"
    shutil.copytree(CATALOGUE.root, root)
    meta_path = root / "register" / "residence-certificate" / "service.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    meta["versions"]["1.1"] = {
        "status": "sunset",
        "sunset_date": date(2026, 1, 31),
        "subject_fields": ["document_number"],
    }
    meta_path.write_text(yaml.safe_dump(meta, allow_unicode=True))
    service = load_catalogue(root).services["register.residence-certificate"]

    with pytest.raises(UnknownVersionError, match="sunset on 2026-01-31"):
        resolve_version(service, "1.1")
    assert str(resolve_version(service, "1").version) == "1.0"
