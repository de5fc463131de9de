"""``interop keys new``: a member's Ed25519 signing key pair and its members-file entry
(with ``--encryption``: a provider's X25519 key, for the personal fields sealed for it).

The private key goes to a file only its owner can read (mode 0600, created exclusively:
an existing key is never overwritten); stdout gets the ``signing_keys`` entry to paste
under the member in the members file (the public key, its id and validity window). A
rotation is a second ``keys new`` with a window overlapping the current key's: both are
valid until the member's processes run with the new key, then the old one expires.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from bus import (
    EncryptionKey,
    InvalidIdentifierError,
    MemberKey,
    check_key_id,
    encryption_key_text,
    format_time,
    parse_member_id,
    private_key_text,
    public_key_text,
)
from interop.settings import SettingsError

__all__ = ["KeyPair", "new_key_pair", "register", "write_private_key"]

_DEFAULT_VALID_DAYS: Final = 400


class KeyPair:
    """A fresh key: its members-file entry and the private key (text, for the 0600 file)."""

    def __init__(self, entry: MemberKey, private_text: str) -> None:
        self.entry = entry
        self.private_text = private_text


def new_key_pair(
    member: str, *, key_id: str | None, not_before: datetime, valid_days: float
) -> KeyPair:
    """A new Ed25519 key for ``member`` valid from ``not_before`` for ``valid_days``."""
    try:
        member = parse_member_id(member)
    except InvalidIdentifierError as exc:
        raise SettingsError(exc.message) from None
    key = Ed25519PrivateKey.generate()
    chosen = key_id or f"{member}-{not_before:%Y%m%d%H%M%S}"
    entry = MemberKey(
        key_id=check_key_id(chosen),
        public_key=public_key_text(key.public_key()),
        not_before=not_before,
        not_after=not_before + timedelta(days=valid_days),
    )
    return KeyPair(entry, private_key_text(key))


def write_private_key(path: Path, text: str) -> None:
    """Write ``text`` to a new file readable by its owner only (never overwrite a key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SettingsError(f"{path} exists: a key is never overwritten") from None
    except OSError as exc:
        raise SettingsError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(text + "\n")
    os.chmod(path, 0o600)  # whatever the umask


def entry_yaml(member: str, entry: MemberKey | EncryptionKey) -> str:
    """The members-file lines for ``entry`` (under ``member``'s ``signing_keys``, or
    ``encryption_keys`` for an encryption key)."""
    data = {
        "key_id": entry.key_id,
        "public_key": entry.public_key,
        **({"not_before": format_time(entry.not_before)} if entry.not_before else {}),
        **({"not_after": format_time(entry.not_after)} if entry.not_after else {}),
    }
    body = yaml.safe_dump([data], sort_keys=False, default_flow_style=False)
    indented = "".join(f"      {line}\n" for line in body.splitlines())
    section = "encryption_keys" if isinstance(entry, EncryptionKey) else "signing_keys"
    return f"# members file, under the member with id: {member}\n    {section}:\n{indented}"


def new_encryption_key(
    member: str, *, key_id: str | None, not_before: datetime, valid_days: float
) -> tuple[EncryptionKey, str]:
    """A new X25519 key for provider ``member``: its members-file entry and private text."""
    try:
        member = parse_member_id(member)
    except InvalidIdentifierError as exc:
        raise SettingsError(exc.message) from None
    key = X25519PrivateKey.generate()
    entry = EncryptionKey(
        key_id=check_key_id(key_id or f"{member}-enc-{not_before:%Y%m%d%H%M%S}"),
        public_key=encryption_key_text(key.public_key()),
        not_before=not_before,
        not_after=not_before + timedelta(days=valid_days),
    )
    return entry, encryption_key_text(key)


def _new(args: argparse.Namespace) -> int:
    not_before = datetime.now(UTC) if args.not_before is None else args.not_before
    if args.encryption:
        entry, private = new_encryption_key(
            args.member, key_id=args.key_id, not_before=not_before, valid_days=args.valid_days
        )
        out = args.out or Path(".interop/keys") / f"{entry.key_id}.key"
        write_private_key(out, private)
        print(entry_yaml(args.member, entry), end="")
        print(
            f"# private key written to {out} (mode 0600): give it to {args.member}'s connector "
            f"only, as connector.field_keys.{entry.key_id}"
        )
        return 0
    pair = new_key_pair(
        args.member, key_id=args.key_id, not_before=not_before, valid_days=args.valid_days
    )
    out = args.out or Path(".interop/keys") / f"{pair.entry.key_id}.key"
    write_private_key(out, pair.private_text)
    print(entry_yaml(args.member, pair.entry), end="")
    print(f"# private key written to {out} (mode 0600): give it to {args.member}'s process only")
    return 0


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give a time zone (e.g. 2026-01-01T00:00:00Z)")
    return moment.astimezone(UTC)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``interop keys new``."""
    keys = subparsers.add_parser("keys", help="members' signing keys (Ed25519)")
    commands = keys.add_subparsers(dest="keys_command", metavar="SUBCOMMAND", required=True)
    new = commands.add_parser(
        "new",
        help="make a key pair for a member: private key to a 0600 file, members-file entry "
        "on stdout",
    )
    new.add_argument("--member", required=True, help="the member id, e.g. es.aeat")
    new.add_argument("--key-id", help="the key id (default: <member>-<UTC timestamp>)")
    new.add_argument(
        "--out", type=Path, help="private key file (default: .interop/keys/<key id>.key)"
    )
    new.add_argument("--not-before", type=_aware, help="start of validity, RFC 3339 (default: now)")
    new.add_argument(
        "--valid-days",
        type=float,
        default=_DEFAULT_VALID_DAYS,
        help=f"validity in days (default {_DEFAULT_VALID_DAYS}); overlap the next key's",
    )
    new.add_argument(
        "--encryption",
        action="store_true",
        help="an X25519 encryption key for a provider (personal fields are sealed for it)",
    )
    new.set_defaults(handler=_new)
