"""``interop batch submit|status|cancel``: batch exchanges from the command line.

``submit`` reads an items file (``interop/batch_csv.py``), sends the batch, shows its
progress on stderr (a plain-text bar on a terminal, a line per tenth otherwise), then
writes the results file (``--out``: CSV when it ends in ``.csv``, else NDJSON).

Resumable: without ``--idempotency-key`` the key is derived from the batch's content, so
running the same command again finds the same batch (the gateway answers 202 again)
instead of sending a second one; results are downloaded into ``<out>.part`` and resumed
from its last line's cursor, then renamed to ``<out>``.

Authentication: ``--api-key`` or ``$INTEROP_API_KEY`` (a consumer member's key).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import io
import json
import os
import sys
from pathlib import Path
from typing import Any, Final, TextIO

import aiohttp

from interop.batch_csv import read_items

__all__ = ["register", "run_status", "run_submit"]

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHABLE: Final = 3
_BAR: Final = 30
_ENVELOPE: Final = ("service", "version", "provider", "purpose", "procedure", "case_file")


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """``interop batch ...``."""
    parser = subparsers.add_parser("batch", help="batch exchanges: submit, status, cancel")
    commands = parser.add_subparsers(dest="batch_command", metavar="COMMAND", required=True)
    submit = commands.add_parser("submit", help="send an items file as one batch")
    _connection(submit)
    submit.add_argument("--service", required=True, help="service id <domain>.<service>")
    submit.add_argument("--version", default="1", help="MAJOR or MAJOR.MINOR (default 1)")
    submit.add_argument("--provider", help="needed when several provide the service")
    submit.add_argument("--purpose", required=True)
    submit.add_argument("--official", required=True, help="the asking official's code")
    submit.add_argument("--procedure")
    submit.add_argument("--case-file")
    submit.add_argument("--legal-basis")
    submit.add_argument("--idempotency-key", help="default: derived from the batch's content")
    submit.add_argument("--out", type=Path, help="results file (.csv: CSV, else NDJSON)")
    submit.add_argument("--poll", type=float, default=1.0, help="seconds between progress checks")
    submit.add_argument("--no-wait", action="store_true", help="print the batch id and exit")
    submit.add_argument("items", type=Path, help="the items CSV file (see docs/batches.md)")
    submit.set_defaults(handler=_submit)
    status = commands.add_parser("status", help="a batch's counts and progress (JSON)")
    _connection(status)
    status.add_argument("batch_id")
    status.set_defaults(handler=_status)
    cancel = commands.add_parser("cancel", help="cancel a batch's items not sent yet")
    _connection(cancel)
    cancel.add_argument("batch_id")
    cancel.set_defaults(handler=_cancel)


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--gateway", required=True, help="gateway base URL")
    parser.add_argument("--api-key", default=None, help="API key (default: $INTEROP_API_KEY)")


def _key(args: argparse.Namespace) -> str | None:
    key: str | None = args.api_key or os.environ.get("INTEROP_API_KEY")
    return key


def _submit(args: argparse.Namespace) -> int:
    envelope = {
        name: getattr(args, name)
        for name in (*_ENVELOPE, "official", "legal_basis")
        if getattr(args, name) is not None
    }
    return asyncio.run(
        run_submit(
            gateway=args.gateway,
            api_key=_key(args),
            envelope=envelope,
            items_file=args.items,
            out=args.out,
            idempotency_key=args.idempotency_key,
            poll_s=args.poll,
            wait=not args.no_wait,
        )
    )


def _status(args: argparse.Namespace) -> int:
    return asyncio.run(run_status(args.gateway, _key(args), args.batch_id, method="GET"))


def _cancel(args: argparse.Namespace) -> int:
    return asyncio.run(run_status(args.gateway, _key(args), args.batch_id, method="DELETE"))


async def run_status(
    gateway: str, api_key: str | None, batch_id: str, *, method: str, out: TextIO | None = None
) -> int:
    """``status`` (GET) or ``cancel`` (DELETE): the batch as JSON on stdout."""
    out = out or sys.stdout
    if not api_key:
        print("interop batch: give --api-key or set INTEROP_API_KEY", file=sys.stderr)
        return EXIT_USAGE
    url = f"{gateway.rstrip('/')}/v1/batches/{batch_id}"
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, url, headers=_auth(api_key)) as response,
        ):
            body = await response.json(content_type=None)
            status = response.status
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        print(f"interop batch: the gateway could not be asked: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    if status != 200:
        _print_problem(body, status, [])
        return EXIT_REFUSED
    print(json.dumps(body, indent=2), file=out)
    return EXIT_OK


async def run_submit(
    *,
    gateway: str,
    api_key: str | None,
    envelope: dict[str, Any],
    items_file: Path,
    out: Path | None,
    idempotency_key: str | None,
    poll_s: float,
    wait: bool,
) -> int:
    """Send the batch, follow it, write the results; the exit code."""
    if not api_key:
        print("interop batch: give --api-key or set INTEROP_API_KEY", file=sys.stderr)
        return EXIT_USAGE
    items, lines = read_items(items_file)
    document = {**envelope, "items": items}
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    key = idempotency_key or "cli-" + hashlib.sha256(body).hexdigest()[:40]
    base = gateway.rstrip("/")
    headers = {**_auth(api_key), "Idempotency-Key": key, "Content-Type": "application/json"}
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{base}/v1/batches", data=io.BytesIO(body), headers=headers
            ) as response:
                answer = await response.json(content_type=None)
                if response.status != 202:
                    _print_problem(answer, response.status, lines)
                    return EXIT_REFUSED
            batch_id = answer["id"]
            again = response.headers.get("Idempotent-Replayed") == "true"
            print(
                f"batch {batch_id}: {answer['item_count']} items"
                + (" (already submitted: resuming)" if again else ""),
                file=sys.stderr,
            )
            if not wait:
                print(batch_id)
                return EXIT_OK
            final = await _follow(session, f"{base}/v1/batches/{batch_id}", api_key, poll_s)
            if out is not None:
                await _download(session, f"{base}/v1/batches/{batch_id}/results", api_key, out)
                print(f"results: {out}", file=sys.stderr)
    except (aiohttp.ClientError, TimeoutError) as exc:
        print(
            f"interop batch: the gateway could not be reached ({exc}); run the same command "
            "again to resume",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    print(json.dumps({"id": batch_id, "state": final["state"], "counts": final["counts"]}))
    return EXIT_OK


async def _follow(
    session: aiohttp.ClientSession, url: str, api_key: str, poll_s: float
) -> dict[str, Any]:
    """Poll the batch until it is finished, drawing its progress on stderr."""
    shown = -1
    tty = sys.stderr.isatty()
    while True:
        async with session.get(url, headers=_auth(api_key)) as response:
            response.raise_for_status()
            batch: dict[str, Any] = await response.json()
        done = batch["state"] == "finished"
        tenth = int(batch["progress"] * 10)
        if tty or tenth != shown or done:
            end = "\n" if done or not tty else ""
            print(("\r" if tty else "") + progress_line(batch), end=end, file=sys.stderr)
            shown = tenth
        if done:
            return batch
        await asyncio.sleep(poll_s)


def progress_line(batch: dict[str, Any]) -> str:
    """``[######------] 40% 400/1000 found 300 not_found 100 ...`` (plain text)."""
    progress = float(batch["progress"])
    filled = int(progress * _BAR)
    counts = " ".join(f"{name} {n}" for name, n in batch["counts"].items() if n)
    total = batch["item_count"]
    return (
        f"[{'#' * filled}{'-' * (_BAR - filled)}] {progress:4.0%} "
        f"{round(progress * total)}/{total}  {counts}"
    )


async def _download(session: aiohttp.ClientSession, url: str, api_key: str, out: Path) -> None:
    """The results into ``<out>.part`` (resumed from its last cursor), then ``out``."""
    as_csv = out.suffix.lower() == ".csv"
    part = out.with_name(out.name + ".part")
    cursor = _last_cursor(part, as_csv) if part.exists() else None
    headers = {**_auth(api_key), "Accept": "text/csv" if as_csv else "application/x-ndjson"}
    params = {"cursor": cursor} if cursor else {}
    async with session.get(url, headers=headers, params=params) as response:
        response.raise_for_status()
        with part.open("ab") as sink:
            first = True
            async for line in response.content:
                if as_csv and first and cursor is not None:
                    first = False
                    continue  # the header is already in the file
                first = False
                sink.write(line)
    part.replace(out)


def _last_cursor(part: Path, as_csv: bool) -> str | None:
    """The cursor of the last complete line of a partial results file (None: restart)."""
    text = part.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]  # drop a torn last line
        part.write_text(text, encoding="utf-8")
    rows = text.splitlines()
    if as_csv:
        if len(rows) < 2:
            part.unlink()
            return None
        last = next(csv.reader([rows[-1]]))
        return last[-1]
    if not rows:
        return None
    cursor: str = json.loads(rows[-1])["cursor"]
    return cursor


def _print_problem(problem: Any, status: int, lines: list[int]) -> None:
    """The gateway's problem detail, each pointer into the items named by its file line."""
    if not isinstance(problem, dict):
        print(f"interop batch: the gateway answered {status}", file=sys.stderr)
        return
    print(
        f"interop batch: the gateway refused ({status} {problem.get('code')}): "
        f"{problem.get('detail')}",
        file=sys.stderr,
    )
    for error in problem.get("errors", []):
        pointer = str(error.get("pointer", ""))
        where = pointer
        parts = pointer.split("/")
        if len(parts) > 2 and parts[1] == "items" and parts[2].isdigit():
            index = int(parts[2])
            if index < len(lines):
                where = f"line {lines[index]} ({pointer})"
        print(f"  {where}: {error.get('detail')}", file=sys.stderr)


def _auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
