"""``interop bench --trust-cost``: the CPU the zero-trust checks add to one exchange."""

from __future__ import annotations

import re

import pytest

from benchmarks.sealing_cost import measure_sealing, measure_sealing_by_process
from benchmarks.signing_cost import measure, measure_by_process
from interop import bench_cmd
from interop.cli import main


def test_both_measurements_run_the_accepted_paths_and_give_ordered_figures() -> None:
    """Signing+verifying and sealing+opening each run their real code paths (an assertion
    inside fails on a rejected signature or a field that does not open) and give a
    positive median no larger than the p99."""
    for median, p99 in (measure(20), measure_sealing(20)):
        assert 0 < median <= p99


def test_the_command_prints_one_row_per_cost_and_their_total(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The table has the signing row, the sealing row and a total equal to their sum."""
    monkeypatch.setattr(bench_cmd, "_TRUST_EXCHANGES", 30)
    assert main(["bench", "--trust-cost"]) == 0
    out = capsys.readouterr().out
    rows = {
        m["name"].strip(): (int(m["median"]), int(m["p99"]))
        for m in re.finditer(r"^  (?P<name>.*?\S)\s+(?P<median>\d+)\s+(?P<p99>\d+)$", out, re.M)
    }
    signing = rows["signing + verifying (6 + 6 Ed25519, bindings)"]
    sealing = rows["sealing + opening personal fields (X25519+AES)"]
    # Rounded separately, so the total may differ from the sum by one.
    assert abs(rows["total"][0] - (signing[0] + sealing[0])) <= 1
    assert "over 30 exchanges" in out


def test_the_checks_are_split_by_the_process_that_runs_them(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each process's row runs its own side of the real code paths (an assertion inside
    fails on a rejected signature), its total is its signing plus its sealing, and the
    gateway's and connector's rows carry issue #16's targets for their whole CPU."""
    for median, p99 in (*measure_by_process(20).values(), *measure_sealing_by_process(20).values()):
        assert 0 < median <= p99
    monkeypatch.setattr(bench_cmd, "_TRUST_EXCHANGES", 30)
    assert main(["bench", "--trust-cost"]) == 0
    out = capsys.readouterr().out.split("By process", 1)[1]
    rows = {
        m["process"]: m.groups()[1:]
        for m in re.finditer(r"^  (?P<process>\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+|-)$", out, re.M)
    }
    assert set(rows) == {"gateway", "connector", "indexer"}
    for sign, seal, total, _ in rows.values():
        assert abs(int(total) - (int(sign) + int(seal))) <= 1
    assert (rows["gateway"][3], rows["connector"][3], rows["indexer"][3]) == ("1000", "700", "-")
    assert rows["indexer"][1] == "0"  # it opens no personal field
