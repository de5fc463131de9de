"""The members file, its start-up checks against the catalogue, and credential lookups."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from contracts import InteropError, load_catalogue
from gateway.members import (
    AccessRight,
    Member,
    MemberDirectory,
    MembersConfig,
    MembersConfigError,
    Role,
    certificate_fingerprint,
    hash_api_key,
    load_members_file,
    new_api_key,
)
from tests.support.certs import CertificateAuthority

CATALOGUE = load_catalogue()
KEY_A, HASH_A = new_api_key()
KEY_B, HASH_B = new_api_key()


def _member(member_id: str = "es.ayto-alcala", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": member_id,
        "name": "Ayuntamiento de Alcalá",
        "roles": ["consumer"],
        "rights": [{"service": "tax.income-band", "purposes": ["scholarship"]}],
    }
    base.update(fields)
    return base


def _directory(*members: dict[str, Any]) -> MemberDirectory:
    return MemberDirectory.from_config(
        MembersConfig.model_validate({"members": list(members)}), CATALOGUE
    )


def _problems(*members: dict[str, Any]) -> tuple[str, ...]:
    with pytest.raises(MembersConfigError) as caught:
        _directory(*members)
    return caught.value.problems


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "members.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# -- loading the file ------------------------------------------------------------------


def test_a_valid_file_loads_with_every_field(tmp_path: Path) -> None:
    """Ids, roles, key hashes (normalised), certificates and rights all come through."""
    path = _write(
        tmp_path,
        f"""\
        members:
          - id: es.ayto-alcala
            name: Ayuntamiento de Alcalá
            roles: [consumer, citizen-portal]
            api_keys: [{{sha256: "{HASH_A.upper()}", label: laptop}}]
            certificates:
              - sha256_fingerprint: "{":".join(HASH_B[i : i + 2] for i in range(0, 64, 2))}"
              - subject_cn: backoffice.alcala.es
            rights:
              - service: tax.income-band
                purposes: [scholarship, public-housing]
        """,
    )
    config = load_members_file(path)
    entry = config.members[0]
    assert entry.roles == {Role.CONSUMER, Role.CITIZEN_PORTAL}
    assert entry.api_keys[0].sha256 == HASH_A
    assert entry.api_keys[0].label == "laptop"
    assert entry.certificates[0].sha256_fingerprint == HASH_B
    assert entry.certificates[1].subject_cn == "backoffice.alcala.es"
    assert entry.rights[0].purposes == ("scholarship", "public-housing")
    directory = MemberDirectory.from_config(config, CATALOGUE)
    assert directory.by_api_key(KEY_A) == entry.member()


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    """A YAML syntax error is reported with the file and its line and column."""
    path = _write(tmp_path, "members:\n  - id: es.a\n    name: [unclosed\n")
    with pytest.raises(MembersConfigError) as caught:
        load_members_file(path)
    assert str(path) in str(caught.value)
    assert caught.value.problems[0].startswith("at line 4, column 1:")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A file that does not exist is a MembersConfigError naming it, not an OSError."""
    path = tmp_path / "absent.yaml"
    with pytest.raises(MembersConfigError, match="cannot read the file") as caught:
        load_members_file(path)
    assert caught.value.source == str(path)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "members"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    """An empty file, a list or a scalar at the top is refused with a clear reason."""
    with pytest.raises(MembersConfigError, match="expected a mapping"):
        load_members_file(_write(tmp_path, text))


def test_shape_errors_are_all_reported_with_their_location(tmp_path: Path) -> None:
    """Wrong types, unknown keys, bad ids, bad hashes and '*' are listed together."""
    path = _write(
        tmp_path,
        """\
        members:
          - id: ES_AEAT
            name: Agencia Tributaria
            roles: [consumer, superuser]
            colour: blue
            api_keys: [{sha256: "abc"}]
            certificates: [{}]
            rights:
              - service: tax.income-band
                purposes: ["*"]
              - service: tax.income-band
                purposes: []
          - id: es.ok
            name: "   "
            roles: []
        """,
    )
    with pytest.raises(MembersConfigError) as caught:
        load_members_file(path)
    problems = caught.value.problems
    assert any(p.startswith("at members[0].id: ") and "ES_AEAT" in p for p in problems)
    assert any(p.startswith("at members[0].roles[1]: ") for p in problems)
    assert any(p.startswith("at members[0].colour: Extra inputs") for p in problems)
    assert any(p.startswith("at members[0].api_keys[0].sha256: ") for p in problems)
    assert any(
        p.startswith("at members[0].certificates[0]: ") and "exactly one" in p for p in problems
    )
    assert any(
        p.startswith("at members[0].rights[0].purposes: ") and "purpose limitation" in p
        for p in problems
    )
    assert any(p.startswith("at members[0].rights[1].purposes: ") for p in problems)
    assert any(p.startswith("at members[1].name: ") for p in problems)
    assert any(p.startswith("at members[1].roles: ") for p in problems)
    assert len(problems) == 9
    assert f"{path}: 9 problem(s):" in caught.value.message


def test_a_certificate_entry_may_not_give_both_forms() -> None:
    """Fingerprint and CN in one entry would be ambiguous (which one must match?)."""
    with pytest.raises(ValueError, match="exactly one"):
        MembersConfig.model_validate(
            {"members": [_member(certificates=[{"sha256_fingerprint": HASH_A, "subject_cn": "x"}])]}
        )


def test_members_config_error_is_an_interop_error_with_a_stable_code() -> None:
    """The code is a published contract (start-up tooling greps for it)."""
    assert issubclass(MembersConfigError, InteropError)
    assert MembersConfigError.code == "GATEWAY_MEMBERS_CONFIG_INVALID"
    assert not MembersConfigError.retriable


# -- checks against the catalogue ------------------------------------------------------


def test_every_meaning_problem_is_reported_at_once() -> None:
    """Duplicates, unknown services, disallowed purposes and rights of non-consumers."""
    problems = _problems(
        _member("es.a", api_keys=[{"sha256": HASH_A}], certificates=[{"subject_cn": "cn.a"}]),
        _member("es.a"),
        _member(
            "es.b",
            api_keys=[{"sha256": HASH_A}],
            certificates=[{"subject_cn": "cn.a"}, {"sha256_fingerprint": HASH_B}],
            rights=[
                {"service": "tax.unknown", "purposes": ["scholarship"]},
                {"service": "tax.income-band", "purposes": ["scholarship", "school-admission"]},
                {"service": "tax.income-band", "purposes": ["public-housing"]},
            ],
        ),
        _member("es.c", roles=["auditor"], certificates=[{"sha256_fingerprint": HASH_B}]),
    )
    assert problems == (
        "members[1] (es.a): member id 'es.a' is listed twice",
        "members[2] (es.b).api_keys[0]: this API key hash already belongs to member 'es.a'",
        "members[2] (es.b).certificates[0]: this subject CN already belongs to member 'es.a'",
        "members[2] (es.b).rights[0]: no service 'tax.unknown' in the catalogue",
        "members[2] (es.b).rights[1]: purpose 'school-admission' is not allowed by "
        "tax.income-band (allowed: social-benefits, scholarship, public-housing)",
        "members[2] (es.b).rights[2]: a second right for tax.income-band; merge them into one",
        "members[3] (es.c).certificates[0]: this fingerprint already belongs to member 'es.b'",
        "members[3] (es.c): holds rights but is not a consumer (rights are for consumers)",
    )


def test_problems_name_the_file_they_came_from(tmp_path: Path) -> None:
    """An inconsistency found after loading still names the members file."""
    path = _write(
        tmp_path,
        """\
        members:
          - {id: es.a, name: A, roles: [consumer], rights: [{service: tax.x, purposes: [p]}]}
        """,
    )
    with pytest.raises(MembersConfigError) as caught:
        MemberDirectory.from_config(load_members_file(path), CATALOGUE)
    assert caught.value.source == str(path)
    assert str(path) in caught.value.message


def test_non_consumers_without_rights_are_fine() -> None:
    """Providers, auditors and citizen portals are members; they just hold no rights."""
    directory = _directory(
        _member("es.aeat", roles=["provider"], rights=[]),
        _member("es.aepd", roles=["auditor"], rights=[]),
        _member("es.carpeta", roles=["citizen-portal"], rights=[]),
    )
    assert [m.id for m in directory.members] == ["es.aeat", "es.aepd", "es.carpeta"]
    assert directory.get("es.aepd") is not None
    assert directory.get("es.aepd").has_role(Role.AUDITOR)  # type: ignore[union-attr]
    assert not directory.get("es.aepd").has_role(Role.CONSUMER)  # type: ignore[union-attr]


# -- lookups and may_call --------------------------------------------------------------


def test_lookups_by_id_api_key_and_certificate() -> None:
    """Each credential finds its member; anything else finds nobody."""
    ca = CertificateAuthority.create()
    pinned, by_cn, stranger = (
        ca.issue_client("pinned.example.es"),
        ca.issue_client("backoffice.getafe.es"),
        ca.issue_client("stranger.example.es"),
    )
    directory = _directory(
        _member(
            "es.a",
            api_keys=[{"sha256": HASH_A}],
            certificates=[{"sha256_fingerprint": pinned.fingerprint}],
        ),
        _member(
            "es.b",
            api_keys=[{"sha256": HASH_B}],
            certificates=[{"subject_cn": "backoffice.getafe.es"}],
        ),
    )
    assert directory.get("es.a") is not None
    assert directory.get("es.zz") is None
    assert directory.by_api_key(KEY_A) == directory.get("es.a")
    assert directory.by_api_key(KEY_B) == directory.get("es.b")
    assert directory.by_api_key(HASH_A) is None  # the hash itself is not a key
    assert directory.by_api_key("") is None
    assert directory.by_certificate(pinned.der) == directory.get("es.a")
    assert directory.by_certificate(by_cn.der) == directory.get("es.b")
    assert directory.by_certificate(stranger.der) is None
    assert directory.by_certificate(b"not a certificate") is None


def test_hash_api_key_is_plain_sha256_hex() -> None:
    """The documented recipe (`sha256sum` of the key without newline) gives the same hash."""
    assert hash_api_key("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    key, digest = new_api_key()
    assert len(key) >= 43  # 32 random bytes in URL-safe base64
    assert digest == hash_api_key(key)
    assert new_api_key()[0] != key


def test_certificate_fingerprint_matches_cryptography() -> None:
    """Our fingerprint of the DER equals the one cryptography computes."""
    cert = CertificateAuthority.create().issue_client("x.example.es")
    assert certificate_fingerprint(cert.der) == cert.fingerprint


def test_may_call_checks_service_and_purpose() -> None:
    """A right covers its service for its purposes only; None means 'any purpose'."""
    member = Member(
        id="es.a",
        name="A",
        roles=frozenset({Role.CONSUMER}),
        rights=(AccessRight(service="tax.income-band", purposes=("scholarship",)),),
    )
    assert member.may_call("tax.income-band")
    assert member.may_call("tax.income-band", "scholarship")
    assert not member.may_call("tax.income-band", "public-housing")
    assert not member.may_call("register.residence-certificate")
    assert not member.may_call("register.residence-certificate", "scholarship")


def test_a_member_id_may_not_be_a_dotted_prefix_of_another() -> None:
    """es.ine's connector groups (interop.connector.es.ine.*) would cover es.ine.padron's:
    refused at start-up. es.ine-x is no dotted prefix, and is fine."""
    problems = _problems(
        _member("es.ine"),
        _member("es.ine.padron"),
        _member("es.ine-x"),
    )
    assert problems == (
        "member id 'es.ine' is a prefix of 'es.ine.padron': one's Kafka consumer groups "
        "(interop.connector.es.ine.*) would cover the other's; rename one",
    )


def test_exempt_procedures_are_rights_checked_against_the_service() -> None:
    """A member names the exempt procedures it conducts, per service; one the service does
    not exempt is a start-up problem, and a member without the entry names none."""
    problems = _problems(
        _member(
            "es.b",
            rights=[
                {
                    "service": "register.residence-certificate",
                    "purposes": ["social-benefits"],
                    "exempt_procedures": ["inspection", "social-benefits"],
                },
                {
                    "service": "tax.income-band",
                    "purposes": ["scholarship"],
                    "exempt_procedures": ["inspection"],
                },
            ],
        ),
    )
    assert problems == (
        "members[0] (es.b).rights[0]: register.residence-certificate exempts no "
        "'social-benefits' procedure from oppositions (it exempts: sanctioning, inspection)",
        "members[0] (es.b).rights[1]: tax.income-band exempts no 'inspection' procedure "
        "from oppositions (it exempts: none)",
    )
    inspector = Member(
        id="es.a",
        name="A",
        roles=frozenset({Role.CONSUMER}),
        rights=(
            AccessRight(
                service="register.residence-certificate",
                purposes=("social-benefits",),
                exempt_procedures=("inspection",),
            ),
            AccessRight(service="tax.income-band", purposes=("scholarship",)),
        ),
    )
    assert inspector.exempt_procedures("register.residence-certificate") == {"inspection"}
    assert inspector.exempt_procedures("tax.income-band") == frozenset()


def test_may_call_is_false_for_non_consumers_even_with_rights() -> None:
    """Defence in depth: a Member built by hand with rights but no consumer role calls nothing."""
    member = Member(
        id="es.a",
        name="A",
        roles=frozenset({Role.AUDITOR}),
        rights=(AccessRight(service="tax.income-band", purposes=("scholarship",)),),
    )
    assert not member.may_call("tax.income-band")


def test_member_id_is_validated() -> None:
    """Member ids follow bus.ids rules."""
    with pytest.raises(ValueError, match="member id"):
        Member(id="Not Valid", name="x", roles=frozenset({Role.CONSUMER}))
