"""``interop batch`` as a real process against a real gateway, broker and provider."""

from __future__ import annotations

import asyncio
import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tests.integration.batches.test_batches_http import FAST
from tests.integration.gateway.support import RunningGateway, start_gateway


async def _interop(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "interop",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _submit_args(gw: RunningGateway, items: Path, out: Path) -> list[str]:
    return [
        "batch",
        "submit",
        "--gateway",
        gw.base_url,
        "--api-key",
        gw.api_key,
        "--service",
        gw.cat.residence,
        "--purpose",
        "social-benefits",
        "--official",
        "official-42",
        "--poll",
        "0.2",
        "--out",
        str(out),
        str(items),
    ]


async def test_submit_follows_writes_results_and_resumes_without_resending(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """A 50-line CSV: progress on stderr, a results CSV line per item, the summary on
    stdout; the same command again resumes the same batch and sends nothing new;
    ``status`` prints the batch."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **FAST) as gw:
        items = tmp_path / "items.csv"
        rows = ["subject,item_ref,data.document_type,data.document_number"]
        kinds = ("FOUND", "MISSING")
        rows += [f"{kinds[i % 2]}-{i},row-{i},DNI,{kinds[i % 2]}-{i}" for i in range(50)]
        items.write_text("\n".join(rows) + "\n", encoding="utf-8")
        out = tmp_path / "results.csv"
        code, stdout, stderr = await _interop(*_submit_args(gw, items, out))
        assert code == 0, stderr
        summary = json.loads(stdout)
        assert summary["state"] == "finished"
        assert summary["counts"]["found"] == 25
        assert summary["counts"]["not_found"] == 25
        assert "100%" in stderr
        assert "FOUND-" not in stderr  # no identifier in the progress
        with out.open(encoding="utf-8", newline="") as handle:
            results = list(csv.DictReader(handle))
        assert [r["item_ref"] for r in results] == [f"row-{i}" for i in range(50)]
        assert [r["status"] for r in results] == ["found", "not_found"] * 25
        assert all(r["exchange_id"] for r in results)
        assert not out.with_name("results.csv.part").exists()
        sent = len(gw.provider.requests)
        assert sent == 50
        code, stdout, stderr = await _interop(*_submit_args(gw, items, out))
        assert code == 0, stderr
        assert "already submitted: resuming" in stderr
        assert json.loads(stdout)["id"] == summary["id"]
        assert len(gw.provider.requests) == sent
        code, stdout, _ = await _interop(
            "batch", "status", "--gateway", gw.base_url, "--api-key", gw.api_key, summary["id"]
        )
        assert code == 0
        assert json.loads(stdout)["counts"]["found"] == 25


async def test_refusals_name_the_file_line(
    kafka_bootstrap: str, tmp_path: Path, unique_name: Callable[[str], str]
) -> None:
    """An unreadable CSV line and an item the gateway refuses are both reported by their
    line in the items file; exit status 1; nothing sent."""
    async with start_gateway(kafka_bootstrap, tmp_path, unique_name, **FAST) as gw:
        bad_csv = tmp_path / "bad.csv"
        bad_csv.write_text('subject,data\nFOUND-1,{}\nFOUND-2,"{not json"\n', encoding="utf-8")
        code, _, stderr = await _interop(*_submit_args(gw, bad_csv, tmp_path / "r.csv"))
        assert code == 1
        assert "line 3: 'data' is not JSON" in stderr
        refused = tmp_path / "refused.csv"
        refused.write_text(
            "subject,data.document_type,data.document_number\n"
            "FOUND-1,DNI,FOUND-1\n"
            "\n"
            "FOUND-2,DNI,FOUND-3\n",
            encoding="utf-8",
        )
        code, _, stderr = await _interop(*_submit_args(gw, refused, tmp_path / "r.csv"))
        assert code == 1
        assert "the gateway refused (400 INVALID_REQUEST)" in stderr
        assert "line 4 (/items/1/data/document_number)" in stderr
        assert "FOUND-3" not in stderr
        assert gw.provider.requests == []
