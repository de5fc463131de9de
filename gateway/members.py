"""Who the members are and what each may ask: the members file and its directory.

A *member* is an administration connected to the bus. The members file (YAML, loaded once
at start-up) gives each one an id, a name, roles, credentials and access rights::

    members:
      - id: es.ayto-alcala
        name: Ayuntamiento de Alcalá de Henares
        roles: [consumer]
        api_keys: [{sha256: "<64 hex>", label: "dev laptop"}]
        certificates: [{sha256_fingerprint: "<64 hex>"}, {subject_cn: "backoffice.alcala.es"}]
        rights:
          - {service: tax.income-band, purposes: [social-benefits, public-housing]}
      - id: es.aeat
        name: Agencia Tributaria
        roles: [provider]
        signing_keys:          # its connector's Ed25519 keys (``interop keys new``)
          - {key_id: es.aeat-2026-01, public_key: "<base64>", not_after: 2027-01-31T00:00:00Z}
        encryption_keys:       # its connector's X25519 keys: personal fields are sealed for it
          - {key_id: es.aeat-enc-2026-01, public_key: "<base64>"}

``load_members_file`` checks the shape (types, unknown keys); ``MemberDirectory.from_config``
checks the meaning against the catalogue and reports every problem at once, so an operator
fixes the file in one round. Decisions (also in ``docs/gateway-auth.md``):

* Purposes are always listed: there is no ``"*"``. Purpose limitation (GDPR art. 5.1.b)
  means a right is granted per purpose, and a purpose added to a service later must not
  silently widen every existing right.
* A procedure that sets oppositions aside (``inspection``) is a right too
  (``exempt_procedures``): a member names it only if it conducts such procedures.
* Only consumers hold rights: providers answer, auditors and citizen portals read the
  audit log; none of them calls a service.
* Every member that produces on the bus (``gateway``, ``provider``, ``citizen-portal``)
  lists its public signing keys with key ids and validity windows (``bus.member_keys``);
  a key id names one key in the whole file, and two windows overlap during a rotation.
* Certificates are pinned by SHA-256 fingerprint (strongest: one exact certificate) or
  mapped by subject CN. A CN means something only because the TLS layer verified the
  chain against the configured client CA, so the gateway never looks at certificates it
  did not verify (see ``gateway.auth``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Self

import pydantic
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from bus import (
    EncryptionKey,
    InvalidIdentifierError,
    MemberKey,
    MemberKeys,
    MemberKeysError,
    RecipientKey,
    current_encryption_key,
    parse_member_id,
    parse_service_id,
)
from contracts import Catalogue
from contracts.errors import InteropError

__all__ = [
    "AccessRight",
    "ApiKeyEntry",
    "CertificateEntry",
    "Member",
    "MemberDirectory",
    "MemberEntry",
    "MembersConfig",
    "MembersConfigError",
    "Role",
    "certificate_fingerprint",
    "hash_api_key",
    "load_members_file",
    "new_api_key",
]

_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_API_KEY_BYTES: Final = 32


class MembersConfigError(InteropError):
    """The members file is unreadable, malformed or inconsistent (a start-up error).

    ``problems`` lists every problem found, not only the first.
    """

    code = "GATEWAY_MEMBERS_CONFIG_INVALID"

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems: tuple[str, ...] = tuple(problems)
        listed = "".join(f"\n  - {p}" for p in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s):{listed}")


class Role(StrEnum):
    """What a member does on the bus."""

    CONSUMER = "consumer"
    PROVIDER = "provider"
    AUDITOR = "auditor"
    CITIZEN_PORTAL = "citizen-portal"
    GATEWAY = "gateway"
    """The bus's gateway itself: it signs requests and its audit events."""


def _member_id(text: str) -> str:
    try:
        return parse_member_id(text)
    except InvalidIdentifierError as exc:  # pydantic reports ValueErrors with their location
        raise ValueError(exc.message) from exc


def _service_id(text: str) -> str:
    try:
        return parse_service_id(text)
    except InvalidIdentifierError as exc:
        raise ValueError(exc.message) from exc


def _hex64(text: str) -> str:
    # Accept the forms tools print: `openssl x509 -fingerprint` gives AA:BB:..., sha256sum hex.
    normal = text.replace(":", "").lower()
    if _HEX64.fullmatch(normal) is None:
        raise ValueError("must be a SHA-256 digest: 64 hex digits (colons allowed)")
    return normal


MemberIdText = Annotated[str, pydantic.AfterValidator(_member_id)]
ServiceIdText = Annotated[str, pydantic.AfterValidator(_service_id)]
Sha256Hex = Annotated[str, pydantic.AfterValidator(_hex64)]
NonBlank = Annotated[str, pydantic.StringConstraints(strip_whitespace=True, min_length=1)]


class AccessRight(pydantic.BaseModel):
    """A member may call ``service`` for exactly these ``purposes`` (no wildcard)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    service: ServiceIdText
    purposes: tuple[NonBlank, ...] = pydantic.Field(min_length=1)
    exempt_procedures: tuple[NonBlank, ...] = ()
    """The procedures the service exempts from oppositions (``inspection``, say) that this
    member conducts and may therefore name: an opposition is set aside only for a member
    listed here. Otherwise any consumer could step around every opposition by writing
    ``"procedure": "inspection"`` in its request."""

    @pydantic.field_validator("purposes", "exempt_procedures")
    @classmethod
    def _explicit_and_unique(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if "*" in values:
            raise ValueError("'*' is not allowed: list each one (purpose limitation)")
        if len(set(values)) != len(values):
            raise ValueError("an entry is listed twice")
        return values


class Member(pydantic.BaseModel):
    """An administration as the gateway's handlers see it (no credentials in here)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    id: MemberIdText
    name: NonBlank
    roles: frozenset[Role]
    rights: tuple[AccessRight, ...] = ()

    def has_role(self, role: Role) -> bool:
        """Whether the member holds ``role``."""
        return role in self.roles

    def may_call(self, service_id: str, purpose: str | None = None) -> bool:
        """Whether the member may call ``service_id`` for ``purpose``.

        ``purpose=None`` asks "for any purpose at all", which is what the catalogue
        listing needs to decide whether to show the service.
        """
        if Role.CONSUMER not in self.roles:  # defence in depth: the directory refuses this
            return False
        return any(
            right.service == service_id and (purpose is None or purpose in right.purposes)
            for right in self.rights
        )

    def exempt_procedures(self, service_id: str) -> frozenset[str]:
        """The opposition-exempt procedures this member may name for ``service_id``."""
        return frozenset(
            procedure
            for right in self.rights
            if right.service == service_id
            for procedure in right.exempt_procedures
        )


class ApiKeyEntry(pydantic.BaseModel):
    """One API key, configured only as the SHA-256 of the key (never the key itself)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    sha256: Sha256Hex
    label: str | None = None


class CertificateEntry(pydantic.BaseModel):
    """One client certificate: pinned by fingerprint, or mapped by subject CN."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    sha256_fingerprint: Sha256Hex | None = None
    subject_cn: NonBlank | None = None

    @pydantic.model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.sha256_fingerprint is None) == (self.subject_cn is None):
            raise ValueError("give exactly one of sha256_fingerprint or subject_cn")
        return self


class MemberEntry(pydantic.BaseModel):
    """One member as written in the members file."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    id: MemberIdText
    name: NonBlank
    roles: frozenset[Role] = pydantic.Field(min_length=1)
    api_keys: tuple[ApiKeyEntry, ...] = ()
    certificates: tuple[CertificateEntry, ...] = ()
    rights: tuple[AccessRight, ...] = ()
    signing_keys: tuple[MemberKey, ...] = ()
    encryption_keys: tuple[EncryptionKey, ...] = ()
    """A provider's X25519 public keys: requests' personal fields are sealed for it."""

    def member(self) -> Member:
        """The credential-free view handed to request handlers."""
        return Member(id=self.id, name=self.name, roles=self.roles, rights=self.rights)


class MembersConfig(pydantic.BaseModel):
    """The members file: ``members: [...]``."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    members: tuple[MemberEntry, ...]
    _source: str = pydantic.PrivateAttr(default="members configuration")


def load_members_file(path: Path | str) -> MembersConfig:
    """Read and shape-check a members file; ``MembersConfigError`` names file, place, reason."""
    path = Path(path)
    source = str(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MembersConfigError(source, [f"cannot read the file: {exc.strerror}"]) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise MembersConfigError(source, [f"at {where}: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise MembersConfigError(source, [f"not valid YAML: {exc}"]) from exc
    if not isinstance(raw, dict):
        raise MembersConfigError(source, ["expected a mapping with a 'members' list at the top"])
    try:
        config = MembersConfig.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise MembersConfigError(
            source, [f"at {_location(err['loc'])}: {err['msg']}" for err in exc.errors()]
        ) from exc
    config._source = source  # so that from_config's problems name the file too
    return config


def _location(loc: tuple[int | str, ...]) -> str:
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.lstrip(".") or "the top level"


def hash_api_key(key: str) -> str:
    """The SHA-256 hex digest that the members file holds for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_api_key() -> tuple[str, str]:
    """A fresh random API key (32 bytes, URL-safe base64) and its hash for the members file."""
    key = secrets.token_urlsafe(_API_KEY_BYTES)
    return key, hash_api_key(key)


def certificate_fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint (lowercase hex) of a DER-encoded certificate."""
    return hashlib.sha256(der).hexdigest()


class MemberDirectory:
    """Members by id and by credential, checked against the catalogue at start-up.

    Build it with ``from_config``; the constructor takes already-checked parts.
    """

    def __init__(
        self,
        members: Iterable[Member],
        *,
        api_keys: dict[str, str],
        fingerprints: dict[str, str],
        subject_cns: dict[str, str],
        member_keys: MemberKeys | None = None,
        encryption_keys: Mapping[str, tuple[EncryptionKey, ...]] | None = None,
    ) -> None:
        self._members = {m.id: m for m in members}
        self.member_keys = member_keys or MemberKeys.empty()
        """Every member's public signing keys (the verifier key set of ``bus.member_keys``)."""
        self._api_keys = dict(api_keys)
        self._fingerprints = dict(fingerprints)
        self._subject_cns = dict(subject_cns)
        self._encryption_keys = dict(encryption_keys or {})

    @classmethod
    def from_config(cls, config: MembersConfig, catalogue: Catalogue) -> MemberDirectory:
        """Check ``config`` against ``catalogue``; raise one error listing every problem."""
        problems: list[str] = []
        api_keys: dict[str, str] = {}
        fingerprints: dict[str, str] = {}
        subject_cns: dict[str, str] = {}
        seen: set[str] = set()

        def claim(kind: str, table: dict[str, str], value: str, owner: str, where: str) -> None:
            # A credential naming two members would make the caller's identity a coin toss.
            if value in table:
                problems.append(f"{where}: {kind} already belongs to member {table[value]!r}")
            else:
                table[value] = owner

        for i, entry in enumerate(config.members):
            where = f"members[{i}] ({entry.id})"
            if entry.id in seen:
                problems.append(f"{where}: member id {entry.id!r} is listed twice")
            seen.add(entry.id)
            for j, key in enumerate(entry.api_keys):
                claim("this API key hash", api_keys, key.sha256, entry.id, f"{where}.api_keys[{j}]")
            for j, cert in enumerate(entry.certificates):
                at = f"{where}.certificates[{j}]"
                if cert.sha256_fingerprint is not None:
                    claim("this fingerprint", fingerprints, cert.sha256_fingerprint, entry.id, at)
                if cert.subject_cn is not None:
                    claim("this subject CN", subject_cns, cert.subject_cn, entry.id, at)
            if entry.rights and Role.CONSUMER not in entry.roles:
                problems.append(
                    f"{where}: holds rights but is not a consumer (rights are for consumers)"
                )
            problems.extend(_right_problems(entry, catalogue, where))
        problems.extend(_nested_ids(config))
        member_keys: MemberKeys | None = None
        try:
            member_keys = MemberKeys((e.id, e.roles, e.signing_keys) for e in config.members)
        except MemberKeysError as exc:
            problems.append(f"signing_keys: {exc.message}")

        if problems:
            raise MembersConfigError(config._source, problems)
        return cls(
            (e.member() for e in config.members),
            api_keys=api_keys,
            fingerprints=fingerprints,
            subject_cns=subject_cns,
            member_keys=member_keys,
            encryption_keys={e.id: e.encryption_keys for e in config.members},
        )

    def encryption_key_for(self, member_id: str, moment: datetime) -> RecipientKey | None:
        """The key to seal ``member_id``'s personal fields for at ``moment``; None when the
        member lists none valid (the gateway then refuses to send personal fields)."""
        entry = current_encryption_key(self._encryption_keys.get(member_id, ()), moment)
        return None if entry is None else entry.recipient()

    @property
    def members(self) -> tuple[Member, ...]:
        """Every member, in the order of the members file."""
        return tuple(self._members.values())

    def get(self, member_id: str) -> Member | None:
        """The member with this id, or None."""
        return self._members.get(member_id)

    def by_api_key(self, key: str) -> Member | None:
        """The member holding API key ``key``, or None.

        A plain SHA-256 and a dict lookup are enough here: keys are 32 random bytes, so
        nobody can guess one from its hash (slow hashes exist for low-entropy passwords),
        and the timing of a lookup by *hash* tells an attacker at most how the hash of
        their own guess compares with stored hashes, which does not help find a key.
        """
        # Keys we issue are URL-safe ASCII. Anything else (aiohttp hands undecodable header
        # bytes over as surrogates, which cannot be hashed as UTF-8) names no member.
        if not (key.isascii() and key.isprintable()):
            return None
        owner = self._api_keys.get(hash_api_key(key))
        return None if owner is None else self._members[owner]

    def by_certificate(self, der: bytes) -> Member | None:
        """The member of a client certificate (DER) THAT THE TLS LAYER HAS VERIFIED, or None.

        The fingerprint pin is tried first; then the subject CN, which is only meaningful
        because the chain was verified against the configured client CA.
        """
        owner = self._fingerprints.get(certificate_fingerprint(der))
        if owner is None and self._subject_cns:
            cn = _subject_cn(der)
            owner = None if cn is None else self._subject_cns.get(cn)
        return None if owner is None else self._members[owner]


def _nested_ids(config: MembersConfig) -> list[str]:
    """Member ids that are a dotted prefix of another's (``es.ine`` of ``es.ine.padron``).
    A provider's Kafka login may use the consumer groups ``interop.connector.<id>.*``, so
    ``es.ine``'s would cover ``es.ine.padron``'s: it could join the register's connector
    group, or commit its offsets and have its requests skipped."""
    ids = sorted({entry.id for entry in config.members})
    return [
        f"member id {inner!r} is a prefix of {outer!r}: one's Kafka consumer groups "
        f"(interop.connector.{inner}.*) would cover the other's; rename one"
        for inner in ids
        for outer in ids
        if outer.startswith(inner + ".")
    ]


def _right_problems(entry: MemberEntry, catalogue: Catalogue, where: str) -> list[str]:
    problems: list[str] = []
    named: set[str] = set()
    for k, right in enumerate(entry.rights):
        at = f"{where}.rights[{k}]"
        if right.service in named:
            problems.append(f"{at}: a second right for {right.service}; merge them into one")
        named.add(right.service)
        service = catalogue.services.get(right.service)
        if service is None:
            problems.append(f"{at}: no service {right.service!r} in the catalogue")
            continue
        allowed = service.meta.purposes
        for purpose in right.purposes:
            if purpose not in allowed:
                problems.append(
                    f"{at}: purpose {purpose!r} is not allowed by {right.service} "
                    f"(allowed: {', '.join(allowed)})"
                )
        exempt = service.meta.opposition_exempt_procedures
        for procedure in right.exempt_procedures:
            if procedure not in exempt:
                problems.append(
                    f"{at}: {right.service} exempts no {procedure!r} procedure from "
                    f"oppositions (it exempts: {', '.join(exempt) or 'none'})"
                )
    return problems


def _subject_cn(der: bytes) -> str | None:
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:  # none, or ambiguous: map nothing rather than guess
        return None
    value = names[0].value
    return value if isinstance(value, str) else None
