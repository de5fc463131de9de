"""``interop audit verify|query|index``: check the audit log against a trusted key; query
it; run its indexer as a process of its own.

``verify`` exit codes: 0 everything checked verifies; 1 a check failed (the first failure
is printed, naming the checkpoint, the missing leaf or the event); 2 bad arguments (a
verifier key or saved checkpoint that cannot be read); 3 the gateway could not be asked
(unreachable, 401/403, 5xx). ``query`` prints a table, CSV or JSON and exits 0, or 3.
Both authenticate with ``--api-key`` or ``$INTEROP_API_KEY`` (an auditor's key).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp

from bus import MemberKeysError, load_member_keys
from bus.audit import InvalidKeyError, LogVerifier, NoteVerifier, Report
from gateway.audit_client import AuditClientError, GatewayLog
from gateway.indexer_process import run_indexer
from interop.settings import SettingsError, load_settings

__all__ = ["register", "run_query", "run_verify"]

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3
_TABLE_COLUMNS: Final = ("leaf_index", "time", "type", "requester", "service", "purpose", "outcome")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``audit verify`` and ``audit query``."""
    parser = subparsers.add_parser("audit", help="verify and query the tamper-evident audit log")
    commands = parser.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)

    verify = commands.add_parser(
        "verify", help="check checkpoint signature, consistency and inclusion of events"
    )
    _connection(verify)
    verify.add_argument("--key", required=True, help="verifier key: name+keyid+base64")
    verify.add_argument("--origin", help="require the checkpoint to be for this log")
    verify.add_argument("--since", type=Path, help="a checkpoint saved earlier (--save)")
    verify.add_argument("--save", type=Path, help="write the verified checkpoint here")
    verify.add_argument("--event", action="append", default=[], help="event id (repeatable)")
    verify.add_argument("--sample", type=int, help="check N randomly chosen events")
    verify.add_argument(
        "--members",
        type=Path,
        help="members file (or its public part): check each event's signature and its "
        "actor's right to write it, and that providers' and gateway's digests agree",
    )
    verify.set_defaults(handler=_verify)

    query = commands.add_parser("query", help="list audit events (table, CSV or JSON)")
    _connection(query)
    for name in ("subject", "requester", "provider", "service", "purpose", "outcome", "type"):
        query.add_argument(f"--{name}")
    query.add_argument("--since", help="ISO 8601 time with zone")
    query.add_argument("--until", help="ISO 8601 time with zone")
    query.add_argument("--limit", type=int, default=100)
    query.add_argument("--format", choices=("table", "csv", "json"), default="table")
    query.set_defaults(handler=_query)

    index = commands.add_parser(
        "index",
        help="run the audit indexer as its own process (the gateways then set "
        "audit.indexer.enabled: false)",
    )
    index.add_argument(
        "--config", type=Path, required=True, help="the gateway's YAML settings file"
    )
    index.add_argument("--health-port", type=int, help="serve /healthz, /readyz, /metrics here")
    index.add_argument("--health-host", default="127.0.0.1", help="(default 127.0.0.1)")
    index.set_defaults(handler=_index)


def _index(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, only="gateway")
    if settings.gateway is None:
        raise SettingsError(f"{args.config} has no `gateway:` section")
    asyncio.run(
        run_indexer(
            settings.kafka,
            settings.gateway,
            health_port=args.health_port,
            health_host=args.health_host,
        )
    )
    return EXIT_OK


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", required=True, help="gateway base URL")
    parser.add_argument(
        "--api-key", default=None, help="auditor API key (default: $INTEROP_API_KEY)"
    )


def _api_key(args: argparse.Namespace) -> str | None:
    key: str | None = args.api_key or os.environ.get("INTEROP_API_KEY")
    return key


def _verify(args: argparse.Namespace) -> int:
    return asyncio.run(
        run_verify(
            gateway=args.gateway,
            api_key=_api_key(args),
            key=args.key,
            origin=args.origin,
            since=args.since,
            save=args.save,
            event_ids=args.event,
            sample=args.sample,
            members=args.members,
        )
    )


async def run_verify(
    *,
    gateway: str,
    api_key: str | None,
    key: str,
    origin: str | None = None,
    since: Path | None = None,
    save: Path | None = None,
    event_ids: Sequence[str] = (),
    sample: int | None = None,
    members: Path | None = None,
    out: Any = None,
) -> int:
    """``interop audit verify``; prints to ``out`` (stdout) and returns the exit code."""
    out = out or sys.stdout
    if not api_key:
        print("audit verify: give --api-key or set INTEROP_API_KEY", file=out)
        return EXIT_USAGE
    try:
        verifier = NoteVerifier.parse(key)
    except InvalidKeyError as exc:
        print(f"audit verify: --key: {exc.message}", file=out)
        return EXIT_USAGE
    saved = None
    if since is not None:
        try:
            saved = await asyncio.to_thread(since.read_text, encoding="utf-8")
        except OSError as exc:
            print(f"audit verify: --since {since}: {exc.strerror}", file=out)
            return EXIT_USAGE
    problem = "--sample must be at least 1" if sample is not None and sample < 1 else None
    member_keys = None
    if members is not None and problem is None:
        try:
            member_keys = await asyncio.to_thread(load_member_keys, members)
        except MemberKeysError as exc:
            problem = f"--members: {exc.message}"
    if problem is not None:
        print(f"audit verify: {problem}", file=out)
        return EXIT_USAGE
    async with aiohttp.ClientSession() as session:
        source = GatewayLog(session, gateway, api_key)
        try:
            report = await LogVerifier(
                source, verifier, origin=origin, member_keys=member_keys
            ).run(since=saved, event_ids=event_ids, sample=sample)
        except AuditClientError as exc:
            print(f"audit verify: the gateway could not be asked: {exc}", file=out)
            return EXIT_UNREACHABLE
    _print_report(report, out)
    if report.ok and save is not None and report.checkpoint_note is not None:
        await asyncio.to_thread(save.write_text, report.checkpoint_note, encoding="utf-8")
        print(f"checkpoint saved to {save}", file=out)
    return EXIT_OK if report.ok else EXIT_FAILED


def _print_report(report: Report, out: Any) -> None:
    if report.checkpoint is not None:
        cp = report.checkpoint
        print(f"checkpoint: {cp.origin}, {cp.size} events, signature ok", file=out)
    if report.finding is None:
        print(f"verified: {report.events_checked} event(s) included in the signed log", file=out)
        return
    finding = report.finding
    where = []
    if finding.event_id:
        where.append(f"event {finding.event_id}")
    if finding.leaf_index is not None:
        where.append(f"leaf {finding.leaf_index}")
    named = f" ({', '.join(where)})" if where else ""
    print(f"FAILED {finding.what}{named}: {finding.detail}", file=out)


def _query(args: argparse.Namespace) -> int:
    params = {
        name: getattr(args, name)
        for name in ("subject", "requester", "provider", "service", "purpose", "outcome", "type")
        if getattr(args, name)
    }
    for name in ("since", "until"):
        if getattr(args, name):
            params[name] = getattr(args, name)
    params["limit"] = args.limit
    return asyncio.run(run_query(args.gateway, _api_key(args), params, args.format))


async def run_query(
    gateway: str, api_key: str | None, params: Mapping[str, Any], fmt: str, out: Any = None
) -> int:
    """``interop audit query``: one page of events as a table, CSV or JSON."""
    out = out or sys.stdout
    if not api_key:
        print("audit query: give --api-key or set INTEROP_API_KEY", file=out)
        return EXIT_USAGE
    async with aiohttp.ClientSession() as session:
        source = GatewayLog(session, gateway, api_key)
        try:
            accept = "text/csv" if fmt == "csv" else "application/json"
            text = await source.query(params, accept)
        except AuditClientError as exc:
            print(f"audit query: the gateway could not be asked: {exc}", file=out)
            return EXIT_UNREACHABLE
    if fmt != "table":
        out.write(text if text.endswith("\n") else text + "\n")
        return EXIT_OK
    events = json.loads(text).get("events", [])
    rows = [
        [str(e.get(c) if e.get(c) is not None else "-") for c in _TABLE_COLUMNS] for e in events
    ]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(_TABLE_COLUMNS)]
    print("  ".join(c.ljust(w) for c, w in zip(_TABLE_COLUMNS, widths, strict=True)), file=out)
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)), file=out)
    return EXIT_OK
