"""``interop bench`` options: bad values are one clear line, before anything starts."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.errors import BenchConfigError, BenchError
from benchmarks.processes import Child
from benchmarks.runner import BenchOptions
from interop.bench_cmd import wants_kafka_auth
from interop.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--runs", "0"], "must be between 1 and 50"),
        (["bench", "--runs", "many"], "is not a whole number"),
        (["bench", "--duration", "-1"], "more than 0"),
        (["bench", "--duration", "soon"], "is not a number of seconds"),
        (["bench", "--nodes", "2"], "invalid choice: 2"),
        (["bench", "--store", "mysql"], "invalid choice: 'mysql'"),
    ],
)
def test_bad_options_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """argparse exits 2 with the reason; no broker or process was started."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_quick_is_small_and_defaults_cover_the_issue() -> None:
    """--quick shrinks durations and audit sizes; the default measures 10^3..10^6 at
    concurrency 1, 16, 64 with several runs."""
    default = BenchOptions()
    assert default.concurrencies == (1, 16, 64)
    assert default.audit_sizes == (1_000, 100_000, 1_000_000)
    assert default.runs >= 3
    quick = BenchOptions.quick()
    assert quick.duration_s < default.duration_s
    assert max(quick.audit_sizes) < max(default.audit_sizes)


async def test_a_child_that_dies_is_named_with_its_log(tmp_path: Path) -> None:
    """A process that exits before READY gives a BenchError naming it and its log file."""
    child = Child("doomed", [sys.executable, "-c", "import sys; sys.exit(3)"], log_dir=tmp_path)
    await child.start()
    try:
        with pytest.raises(BenchError, match=r"doomed exited before it was ready.*doomed\.log"):
            await child.wait_ready(timeout_s=30)
    finally:
        await child.stop()


@pytest.mark.parametrize(
    ("argv", "store", "nodes", "auth"),
    [
        (["bench"], "sqlite", 1, False),
        (["bench", "--store", "postgres"], "postgres", 1, False),
        (["bench", "--nodes", "3"], "sqlite", 3, True),
        (["bench", "--store", "postgres", "--nodes", "3"], "postgres", 3, True),
        (["bench", "--nodes", "3", "--no-auth"], "sqlite", 3, False),
        (["bench", "--auth"], "sqlite", 1, True),
        (["bench", "--nodes", "3", "--bootstrap", "h:9092"], "sqlite", 3, False),
    ],
)
def test_configuration_options(argv: list[str], store: str, nodes: int, auth: bool) -> None:
    """The default stays SQLite on one open broker; --nodes 3 logs in with SCRAM and ACLs
    unless --no-auth, as interop dev's cluster does; a given broker is used open."""
    args = build_parser().parse_args(argv)
    assert (args.store, args.nodes, wants_kafka_auth(args)) == (store, nodes, auth)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--auth", "--bootstrap", "h:9092"], "needs the bench's own broker"),
        (["bench", "--postgres", "postgresql://u:p@h:5/postgres"], "add it"),
    ],
)
def test_impossible_combinations_fail_before_anything_starts(argv: list[str], message: str) -> None:
    """Logins on a broker the bench did not make, or a PostgreSQL server for the SQLite
    store, are one BENCH_CONFIG_INVALID error from the handler, before any start."""
    args = build_parser().parse_args(argv)
    with pytest.raises(BenchConfigError, match=message) as err:
        args.handler(args)
    assert err.value.code == "BENCH_CONFIG_INVALID"
