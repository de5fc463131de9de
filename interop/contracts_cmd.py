"""``interop contracts check|asyncapi``: the catalogue's gate and its published description.

``check`` prints one line per problem and exits 1 if there is any; ``--lock`` then
assigns ids to the schemas not yet published and writes the lock file (only when the
catalogue is otherwise clean: a broken schema must not get an id).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.asyncapi import asyncapi_document
from contracts.catalogue import DEFAULT_CATALOGUE_DIR, load_catalogue
from contracts.checks import check_catalogue
from contracts.events import check_events, event_refs, events_dir_for, load_events
from contracts.lockfile import LockFile

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``contracts check`` and ``contracts asyncapi``."""
    parser = subparsers.add_parser("contracts", help="check and publish the contract catalogue")
    commands = parser.add_subparsers(dest="contracts_command", metavar="COMMAND", required=True)

    check = commands.add_parser(
        "check", help="lint, compatibility and lock checks; exit 1 on any problem"
    )
    _catalogue_options(check)
    check.add_argument(
        "--lock", action="store_true", help="record ids for new schemas in the lock file"
    )
    check.set_defaults(handler=_check)

    asyncapi = commands.add_parser("asyncapi", help="write an AsyncAPI 3.0 document")
    _catalogue_options(asyncapi)
    asyncapi.add_argument(
        "-o", "--output", type=Path, help="file to write (default: standard output)"
    )
    asyncapi.set_defaults(handler=_asyncapi)


def _catalogue_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE_DIR,
        metavar="DIR",
        help="catalogue folder (default: the one shipped in the package)",
    )
    parser.add_argument(
        "--lock-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="lock file (default: schemas.lock.json next to the catalogue folder)",
    )


def _check(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(args.catalogue)
    lock_path: Path = args.lock_file or catalogue.lock_path()
    lock = LockFile.load(lock_path)
    # Platform events (the audit event) live next to the services and share the lock; a
    # catalogue without an events folder (a deployment's own services) carries none.
    events_dir = events_dir_for(catalogue.root)
    events = load_events(events_dir)
    problems = check_catalogue(catalogue, lock, locking=args.lock)
    if events_dir.is_dir():
        problems += check_events(events, lock, locking=args.lock)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {catalogue.root}", file=sys.stderr)
        return 1
    if args.lock:
        updated, added = lock.with_new([*catalogue.schema_refs(), *event_refs(events)])
        if added:
            updated.save(lock_path)
        for entry in added:
            print(f"locked {entry.service} {entry.version} {entry.role} as schema {entry.id}")
    services = len(catalogue.services)
    print(f"contracts ok: {services} service(s), {len(events)} event(s)", file=sys.stderr)
    return 0


def _asyncapi(args: argparse.Namespace) -> int:
    catalogue = load_catalogue(args.catalogue)
    lock = LockFile.load(args.lock_file or catalogue.lock_path())
    text = json.dumps(asyncapi_document(catalogue, lock), indent=2, ensure_ascii=False)
    if args.output is None:
        print(text)
    else:
        args.output.write_text(text + "\n", encoding="utf-8")
    return 0
