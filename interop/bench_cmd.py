"""``interop bench``: end-to-end figures next to the floors they cannot beat (issue #9).

Prints progress on stderr, the table (ratios first, under a header naming the store,
brokers, auth, cores and load average) on stdout, and writes the full results as JSON
with ``--out``. See ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from benchmarks.batch_bench import run_batch_bench
from benchmarks.errors import BenchConfigError
from benchmarks.profile_summary import render, summarize
from benchmarks.report import render_text
from benchmarks.runner import BenchOptions, run_bench
from benchmarks.sealing_cost import measure_sealing, measure_sealing_by_process
from benchmarks.signing_cost import measure as measure_signing
from benchmarks.signing_cost import measure_by_process as measure_signing_by_process
from benchmarks.target import BenchTarget, start_target

__all__ = ["register", "wants_kafka_auth"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 50:
        raise argparse.ArgumentTypeError("must be between 1 and 50")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 600 seconds")
    return value


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``bench`` command."""
    bench = subparsers.add_parser(
        "bench",
        help="measure exchanges end to end against the raw-Kafka floor and direct HTTP",
        description="Starts a broker (or uses --bootstrap), gateways, audit indexers, "
        "connectors and load generators as separate processes and measures them at "
        "concurrency 1, 16 and 64. --store postgres --nodes 3 measures the production "
        "configuration (PostgreSQL stores, 3 brokers, SCRAM logins and ACLs).",
    )
    bench.add_argument(
        "--quick", action="store_true", help="tiny sizes (~30 s): check it works, do not quote"
    )
    bench.add_argument("--runs", type=_positive_int, help="measured runs per figure (default 3)")
    bench.add_argument("--duration", type=_seconds, help="seconds per measured run (default 4)")
    bench.add_argument("--out", type=Path, help="write the results as JSON to this file")
    bench.add_argument(
        "--bootstrap",
        help="use this running, open broker (host:port) instead of starting one",
    )
    bench.add_argument(
        "--store",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="where gateways (exchanges, consents, audit index) and connectors (replies) keep "
        "state; postgres: a private server unless --postgres, one database per part, dropped "
        "at the end (default sqlite)",
    )
    bench.add_argument(
        "--postgres",
        metavar="DSN",
        help="with --store postgres: use this running server (a superuser's DSN, "
        "postgresql://user:password@host:port/postgres) instead of starting one",
    )
    bench.add_argument(
        "--nodes",
        type=int,
        choices=(1, 3),
        default=1,
        help="Kafka nodes of the private broker; 3: a KRaft cluster, replication factor 3, "
        "min.insync.replicas 2 (default 1)",
    )
    bench.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="SASL/SCRAM logins (one Kafka user per part) and ACLs on the private broker, as "
        "interop dev runs it (default: on with --nodes 3, off with one node)",
    )
    bench.add_argument("--work-dir", type=Path, help="keep configs, stores and logs here")
    bench.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run gateways and providers under pyinstrument; pstats files go to DIR",
    )
    bench.add_argument(
        "--trust-cost",
        action="store_true",
        help="only measure what signing, verifying, sealing and opening cost per exchange "
        "(in this process, no broker; about 10 s)",
    )
    bench.add_argument(
        "--batch",
        action="store_true",
        help="only measure batch exchanges: items/s at the default rate and unthrottled "
        "(two gateways, one connector; about 30 s)",
    )
    bench.set_defaults(handler=_bench)


_TRUST_EXCHANGES = 2000


def _trust_cost() -> int:
    """The CPU the zero-trust checks add to one exchange (issue #13), on this machine."""
    exchanges = _TRUST_EXCHANGES
    sign_median, sign_p99 = measure_signing(exchanges)
    seal_median, seal_p99 = measure_sealing(exchanges)
    print(f"Trust cost per exchange over {exchanges} exchanges (microseconds of one core):")
    print(f"  {'':<44} {'median':>8} {'p99':>8}")
    rows = (
        ("signing + verifying (6 + 6 Ed25519, bindings)", sign_median, sign_p99),
        ("sealing + opening personal fields (X25519+AES)", seal_median, seal_p99),
        ("total", sign_median + seal_median, sign_p99 + seal_p99),
    )
    for name, median, p99 in rows:
        print(f"  {name:<44} {median:>8.0f} {p99:>8.0f}")
    _trust_cost_by_process(exchanges)
    return 0


# Issue #16's targets for each process's whole CPU per exchange (the indexer has none).
_CPU_TARGET_US: Final = {"gateway": 1000, "connector": 700}


def _trust_cost_by_process(exchanges: int) -> None:
    """The same checks split by the process that runs them, next to #16's targets for
    that process's whole CPU per exchange: how much of the budget the checks alone take."""
    signing = measure_signing_by_process(exchanges)
    sealing = measure_sealing_by_process(exchanges)
    print("By process (medians, microseconds; target: issue #16's for all of its CPU):")
    print(f"  {'process':<10} {'sign+verify':>11} {'seal/open':>9} {'total':>7} {'target':>7}")
    for process, (sign_median, _) in signing.items():
        seal_median = sealing.get(process, (0.0, 0.0))[0]
        target = _CPU_TARGET_US.get(process)
        shown = f"{target:>7}" if target is not None else f"{'-':>7}"
        total = sign_median + seal_median
        print(f"  {process:<10} {sign_median:>11.0f} {seal_median:>9.0f} {total:>7.0f} {shown}")


def wants_kafka_auth(args: argparse.Namespace) -> bool:
    """Whether the private broker runs with logins and ACLs; refuses what cannot be."""
    if args.postgres is not None and args.store != "postgres":
        raise BenchConfigError("--postgres gives the server of --store postgres; add it")
    auth: bool = args.nodes > 1 if args.auth is None else args.auth
    if args.bootstrap is not None and args.auth:
        raise BenchConfigError(
            "--auth needs the bench's own broker (it makes the logins); drop --bootstrap"
        )
    # A given broker is open (its logins are unknown to the bench).
    return auth and args.bootstrap is None


def _bench(args: argparse.Namespace) -> int:
    if args.trust_cost:
        return _trust_cost()
    auth = wants_kafka_auth(args)
    # Before the bench starts anything: its own broker's start counts in the 1-minute load.
    load_average = os.getloadavg()
    overrides: dict[str, Any] = {
        "work_dir": args.work_dir,
        "profile_dir": args.profile,
    }
    if args.runs is not None:
        overrides["runs"] = args.runs
    if args.duration is not None:
        overrides["duration_s"] = args.duration
    options = (
        BenchOptions.quick(**overrides) if args.quick else BenchOptions.model_validate(overrides)
    )

    def progress(line: str) -> None:
        print(f"bench: {line}", file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        # A private broker (or cluster) and PostgreSQL server in temporary directories,
        # on free ports: the bench never touches a developer's ``interop dev`` servers
        # unless asked to.
        target = start_target(
            stack,
            nodes=args.nodes,
            auth=auth,
            store=args.store,
            progress=progress,
            bootstrap=args.bootstrap,
            postgres_dsn=args.postgres,
        )
        if args.batch:
            return _batch_bench(target, progress, quick=args.quick, out=args.out)
        document = run_bench(options, target, progress, load_average=load_average)
    profiles = []
    if args.profile is not None:
        # Each profiled process wrote its session when it exited, i.e. by now.
        profiles = [summarize(path) for path in sorted(args.profile.glob("*.pyisession"))]
        document["profile"] = [asdict(profile) for profile in profiles]
    if args.out is not None:
        args.out.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(render_text(document))
    if profiles:
        print()
        print(render(profiles))
    return 0


def _batch_bench(
    target: BenchTarget, progress: Callable[[str], None], *, quick: bool, out: Path | None
) -> int:
    """``--batch``: batch items per second at the default rate and unthrottled."""
    sizes = (40, 400) if quick else (200, 2000)
    batches = run_batch_bench(target, progress, sizes=sizes)
    if out is not None:
        out.write_text(json.dumps({"batches": batches}, indent=2) + "\n", encoding="utf-8")
    print("Batch items per second (POST to finished, as the caller sees it):")
    for name, result in batches.items():
        print(
            f"  {name:<12} {result['items']:>6} items {result['items_per_s']:>8.1f}/s"
            f"  {result['counts']}"
        )
    return 0
