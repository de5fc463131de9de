"""Members' public keys: who signed a record, with which key, valid when.

Every member that produces on the bus (the gateway, each provider's connector, a citizen
portal) signs what it produces with its own Ed25519 key (``bus.record_signing``). Its
public keys live in the members file, next to its id and roles::

    members:
      - id: es.aeat
        roles: [provider]
        signing_keys:
          - key_id: es.aeat-2026-01
            public_key: "<32 bytes, base64>"
            not_before: 2026-01-01T00:00:00Z
            not_after: 2027-01-31T00:00:00Z

A key id names one key of one member in the whole file; windows overlap during a
rotation, so two keys are valid at once and a member switches without a failed exchange.
``MemberKeys`` is the verifier key set the gateway, connectors, the audit indexer and
``interop audit verify`` share. ``load_member_keys`` reads only ``id``, ``roles`` and
``signing_keys`` of each member (the gateway checks the rest of the file), so a connector
can be given the same members file as the gateway and learn nothing it should not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self

import pydantic
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.errors import BusError
from bus.field_encryption import (
    FieldEncryptionError,
    RecipientKey,
    load_encryption_public_key,
)
from bus.record_signing import (
    RecordSignatureError,
    SignatureFailure,
    SigningKeyError,
    check_key_id,
    load_public_key,
    verify_record_signature,
)

__all__ = [
    "EncryptionKey",
    "MemberKey",
    "MemberKeys",
    "MemberKeysError",
    "SignedBy",
    "current_encryption_key",
    "load_member_keys",
    "member_keys_from_mapping",
]


class MemberKeysError(BusError):
    """The members' keys cannot be read or do not make sense (a start-up error)."""

    code = "BUS_MEMBER_KEYS_INVALID"


def _key_id(text: str) -> str:
    try:
        return check_key_id(text)
    except SigningKeyError as exc:
        raise ValueError(exc.message) from None


def _public_key(text: str) -> str:
    try:
        load_public_key(text)
    except SigningKeyError as exc:
        raise ValueError(exc.message) from None
    return text


class _WindowedKey(pydantic.BaseModel):
    """A key id and the window in which the key may be used: [not_before, not_after)."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    key_id: Annotated[str, pydantic.AfterValidator(_key_id)]
    not_before: pydantic.AwareDatetime | None = None
    not_after: pydantic.AwareDatetime | None = None

    @pydantic.model_validator(mode="after")
    def _window(self) -> Self:
        if self.not_before and self.not_after and self.not_after <= self.not_before:
            raise ValueError("not_after must be later than not_before")
        return self

    def valid_at(self, moment: datetime) -> bool:
        """Whether the key may be used at ``moment`` (the window is [not_before, not_after))."""
        if self.not_before is not None and moment < self.not_before:
            return False
        return self.not_after is None or moment < self.not_after


class MemberKey(_WindowedKey):
    """One public signing key of a member, as the members file gives it."""

    public_key: Annotated[str, pydantic.AfterValidator(_public_key)]
    """Raw 32-byte Ed25519 public key, base64 (what ``interop keys new`` prints), or PEM."""

    def verifier(self) -> Ed25519PublicKey:
        """The loaded public key (validated when the entry was read)."""
        return load_public_key(self.public_key)


def _encryption_public_key(text: str) -> str:
    try:
        load_encryption_public_key(text)
    except FieldEncryptionError as exc:
        raise ValueError(exc.message) from None
    return text


class EncryptionKey(_WindowedKey):
    """One public encryption key of a provider: the gateway seals requests' personal fields
    for it (``bus.field_encryption``); its connector holds the private half."""

    public_key: Annotated[str, pydantic.AfterValidator(_encryption_public_key)]
    """Raw 32-byte X25519 public key, base64 (what ``interop keys new`` prints)."""

    def recipient(self) -> RecipientKey:
        """The loaded key (validated when the entry was read)."""
        return RecipientKey(self.key_id, load_encryption_public_key(self.public_key))


def current_encryption_key(keys: Iterable[EncryptionKey], moment: datetime) -> EncryptionKey | None:
    """The key to seal for at ``moment``: of the valid ones, the latest to become valid
    (during a rotation both are valid; the new one is used from its not_before)."""
    valid = [k for k in keys if k.valid_at(moment)]
    if not valid:
        return None
    return max(valid, key=lambda k: (k.not_before is not None, k.not_before or moment))


@dataclass(frozen=True, slots=True)
class SignedBy:
    """Who signed a record: the member and its key (checked, not claimed)."""

    member: str
    key: MemberKey


@dataclass(frozen=True, slots=True)
class _Owned:
    member: str
    key: MemberKey
    public: Ed25519PublicKey


class MemberKeys:
    """Key id -> (member, key, window), and each member's roles."""

    def __init__(self, members: Iterable[tuple[str, Iterable[str], Iterable[MemberKey]]]) -> None:
        self._by_key: dict[str, _Owned] = {}
        self._roles: dict[str, frozenset[str]] = {}
        problems: list[str] = []
        for member, roles, keys in members:
            self._roles[member] = frozenset(str(r) for r in roles)
            for key in keys:
                owner = self._by_key.get(key.key_id)
                if owner is not None:
                    problems.append(
                        f"key id {key.key_id!r} of {member} already names a key of {owner.member}"
                    )
                    continue
                self._by_key[key.key_id] = _Owned(member, key, key.verifier())
        if problems:
            raise MemberKeysError("; ".join(problems))

    @classmethod
    def empty(cls) -> MemberKeys:
        """No member, no key: every signed record is refused as signed by an unknown key."""
        return cls(())

    def __len__(self) -> int:
        return len(self._by_key)

    def roles(self, member: str) -> frozenset[str]:
        """The roles of ``member`` (empty when it is not in the file)."""
        return self._roles.get(member, frozenset())

    def keys_of(self, member: str) -> tuple[MemberKey, ...]:
        """Every key of ``member``, in file order."""
        return tuple(o.key for o in self._by_key.values() if o.member == member)

    def public_keys_of_role(self, role: str) -> dict[str, Ed25519PublicKey]:
        """Key id -> public key of every member holding ``role`` (e.g. the gateways')."""
        return {
            key_id: owned.public
            for key_id, owned in self._by_key.items()
            if role in self._roles.get(owned.member, frozenset())
        }

    def knows(self, key_id: str) -> bool:
        """Whether ``key_id`` names a key in the file."""
        return key_id in self._by_key

    def valid_at(self, key_id: str, moment: datetime) -> bool:
        """Whether ``key_id`` names a known key whose window covers ``moment``."""
        owned = self._by_key.get(key_id)
        return owned is not None and owned.key.valid_at(moment)

    def verify(
        self, headers: Sequence[tuple[str, bytes | None]], value: bytes, *, at: datetime
    ) -> SignedBy:
        """Who signed ``headers`` and ``value`` with a key valid at ``at`` (the signing time
        the record states); else ``RecordSignatureError`` (``KEY_NOT_VALID`` when the key
        is known but outside its window)."""
        key_id = verify_record_signature(headers, value, self._public)
        owned = self._by_key[key_id]
        if not owned.key.valid_at(at):
            raise RecordSignatureError(
                SignatureFailure.KEY_NOT_VALID,
                f"key {key_id} of {owned.member} is not valid at the signing time",
            )
        return SignedBy(owned.member, owned.key)

    def _public(self, key_id: str) -> Ed25519PublicKey | None:
        owned = self._by_key.get(key_id)
        return None if owned is None else owned.public


class _KeysOnlyMember(pydantic.BaseModel):
    # The gateway checks every other field of the members file; here they are ignored.
    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    id: Annotated[str, pydantic.StringConstraints(min_length=1, max_length=200)]
    roles: tuple[str, ...] = ()
    signing_keys: tuple[MemberKey, ...] = ()


class _KeysOnlyFile(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, extra="ignore")

    members: tuple[_KeysOnlyMember, ...]


def member_keys_from_mapping(raw: Mapping[str, Any], source: str) -> MemberKeys:
    """``MemberKeys`` from a parsed members file (``members: [...]``)."""
    try:
        parsed = _KeysOnlyFile.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise MemberKeysError(f"{source}: {problems}") from None
    try:
        return MemberKeys((m.id, m.roles, m.signing_keys) for m in parsed.members)
    except MemberKeysError as exc:
        raise MemberKeysError(f"{source}: {exc.message}") from None


def load_member_keys(path: Path | str) -> MemberKeys:
    """The members' public keys from a members file; ``MemberKeysError`` if unreadable."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MemberKeysError(f"{path}: cannot read the members file: {exc.strerror}") from None
    except yaml.YAMLError:
        raise MemberKeysError(f"{path}: the members file is not valid YAML") from None
    if not isinstance(raw, dict):
        raise MemberKeysError(f"{path}: expected a mapping with a 'members' list at the top")
    return member_keys_from_mapping(raw, str(path))
