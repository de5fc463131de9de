"""Catalogue loading, the Schema Registry view and the AsyncAPI document."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from contracts import (
    DEFAULT_CATALOGUE_DIR,
    CatalogueError,
    Codec,
    ConsentMode,
    LockFile,
    SchemaLoadError,
    Version,
    VersionStatus,
    asyncapi_document,
    load_catalogue,
)
from contracts.lockfile import LOCK_FILE_NAME

SHIPPED_LOCK = DEFAULT_CATALOGUE_DIR.parent / LOCK_FILE_NAME
META = "register/residence-certificate/service.yaml"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A private copy of the shipped catalogue folder."""
    root = tmp_path / "services"
    shutil.copytree(DEFAULT_CATALOGUE_DIR, root)
    return root


def test_demo_catalogue_has_the_three_consent_modes() -> None:
    """The demo has a presumed, an explicit and a legal service, each with 1.0 and 1.1."""
    services = load_catalogue().services
    modes = {sid: s.meta.consent_mode for sid, s in services.items()}
    assert modes == {
        "register.residence-certificate": ConsentMode.PRESUMED,
        "tax.income-band": ConsentMode.EXPLICIT,
        "socialsecurity.employment-status": ConsentMode.LEGAL,
    }
    for service in services.values():
        assert [str(v.version) for v in service.majors()[1]] == ["1.0", "1.1"]
    residence = services["register.residence-certificate"]
    assert sorted(residence.majors()) == [1, 2]
    assert residence.meta.opposition_exempt_procedures == ["sanctioning", "inspection"]
    assert residence.version("1.0").meta.status is VersionStatus.DEPRECATED  # type: ignore[union-attr]


def test_versions_order_numerically() -> None:
    """1.10 comes after 1.9, not before 1.2."""
    assert sorted([Version.parse("1.10"), Version.parse("1.9"), Version.parse("1.2")]) == [
        Version(1, 2),
        Version(1, 9),
        Version(1, 10),
    ]
    with pytest.raises(ValueError, match=r"MAJOR\.MINOR"):
        Version.parse("1.01")


def test_malformed_yaml_names_file_line_and_column(copy: Path) -> None:
    """A YAML syntax error is refused with the file and the position."""
    (copy / META).write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"service\.yaml: at line 2, column 1"):
        load_catalogue(copy)


def test_invalid_metadata_names_every_key(copy: Path) -> None:
    """Pydantic problems are reported with their key paths, all of them."""
    text = (copy / META).read_text(encoding="utf-8")
    text = text.replace("consent_mode: presumed", "consent_mode: maybe")
    text = text.replace("timeout_ms: 8000", "timeout_ms: 5")
    (copy / META).write_text(text + "colour: blue\n", encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(copy)
    for where in ("at consent_mode", "at timeout_ms", "at colour"):
        assert where in caught.value.message


def test_legal_mode_requires_legal_bases(copy: Path) -> None:
    """A ``legal`` service must cite at least one legal basis."""
    path = copy / "socialsecurity/employment-status/service.yaml"
    text = path.read_text(encoding="utf-8")
    start, end = text.index("legal_bases:"), text.index("purposes:")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    with pytest.raises(CatalogueError, match="needs at least one entry in legal_bases"):
        load_catalogue(copy)


def test_undeclared_version_folder_is_refused(copy: Path) -> None:
    """A version folder service.yaml does not declare is an error, not silently served."""
    shutil.copytree(copy / "tax/income-band/1.1", copy / "tax/income-band/1.2")
    with pytest.raises(CatalogueError, match=r"1\.2: version folder not declared"):
        load_catalogue(copy)


def test_invalid_avro_names_file_and_pointer(copy: Path) -> None:
    """A well-formed JSON file that is not Avro is refused with its JSON pointer."""
    path = copy / "tax/income-band/1.0/request.avsc"
    path.write_text(
        '{"type": "record", "name": "R", "fields": [{"name": "a", "type": "integer"}]}',
        encoding="utf-8",
    )
    with pytest.raises(SchemaLoadError, match=r"request\.avsc: at /fields/0/type: unknown type"):
        load_catalogue(copy)


def test_unknown_logical_types_are_refused_in_the_catalogue(copy: Path) -> None:
    """The spec ignores unknown logical types; in our own catalogue it is a typo."""
    path = copy / "tax/income-band/1.0/request.avsc"
    path.write_text(
        '{"type": "record", "name": "R", "fields": '
        '[{"name": "a", "type": {"type": "int", "logicalType": "dat"}}]}',
        encoding="utf-8",
    )
    with pytest.raises(SchemaLoadError, match="unknown logical type 'dat'"):
        load_catalogue(copy)


def test_subjects_follow_the_documented_naming() -> None:
    """Request subjects use TopicNameStrategy; responses one subject per service major."""
    catalogue, lock = load_catalogue(), LockFile.load(SHIPPED_LOCK)
    subjects = catalogue.subjects(lock)
    assert "interop.req.register.residence-certificate.v2-value" in subjects
    responses = subjects["interop.rep.register.residence-certificate.v1-value"]
    assert [(v.version, v.contract_version) for v in responses] == [(1, "1.0"), (2, "1.1")]
    # tax.income-band 1.1 kept 1.0's request: one subject version, as a registry would.
    requests = subjects["interop.req.tax.income-band.v1-value"]
    assert [v.contract_version for v in requests] == ["1.0"]
    ids = [v.schema_id for versions in subjects.values() for v in versions]
    assert len(ids) == len(set(ids))


def test_schemas_by_id_feed_the_codec() -> None:
    """The lock's ids and the catalogue's schemas make a working codec."""
    catalogue, lock = load_catalogue(), LockFile.load(SHIPPED_LOCK)
    schemas = catalogue.schemas_by_id(lock)
    entry = lock.entry("tax.income-band", "1.1", "request")
    assert entry is not None
    codec = Codec(schemas)
    value = codec.encode(entry.schema_id, {"nif": "12345678Z", "fiscal_year": 2023})
    assert codec.decode(value).datum == {"nif": "12345678Z", "fiscal_year": 2023}


def test_unlocked_schemas_have_no_subject() -> None:
    """Without ids the registry view refuses rather than invent them."""
    with pytest.raises(CatalogueError, match="contracts check --lock"):
        load_catalogue().subjects(LockFile())


def test_asyncapi_document_lists_every_message() -> None:
    """One request channel per service major, the shared reply channel, every version."""
    catalogue, lock = load_catalogue(), LockFile.load(SHIPPED_LOCK)
    document = asyncapi_document(catalogue, lock)
    assert set(document["channels"]) == {
        "register.residence-certificate.v1",
        "register.residence-certificate.v2",
        "tax.income-band.v1",
        "socialsecurity.employment-status.v1",
        "replies",
    }
    assert len(document["components"]["messages"]) == 14  # 7 versions x 2 roles
    operation = document["operations"]["request.tax.income-band.v1"]
    assert operation["action"] == "send"
    assert operation["reply"]["channel"] == {"$ref": "#/channels/replies"}
    message = document["components"]["messages"]["tax.income-band.1.1.response"]
    assert message["x-schema-id"] == lock.entry("tax.income-band", "1.1", "response").id  # type: ignore[union-attr]
    assert message["bindings"]["kafka"]["schemaIdPayloadEncoding"] == "confluent"
