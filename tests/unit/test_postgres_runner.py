"""The PostgreSQL runner's pure parts: where it looks for the server and what DSNs it builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservers.postgres import RunningPostgres, find_bin_dir


def test_bin_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """INTEROP_PG_BIN wins when it holds pg_ctl, and is refused (None) when it does not."""
    (tmp_path / "pg_ctl").write_text("")
    monkeypatch.setenv("INTEROP_PG_BIN", str(tmp_path))
    assert find_bin_dir() == tmp_path
    monkeypatch.setenv("INTEROP_PG_BIN", str(tmp_path / "missing"))
    assert find_bin_dir() is None


def test_dsn_names_the_database_and_loopback() -> None:
    server = RunningPostgres(port=5544, data_dir=Path("/x"), password="pw")
    assert server.dsn == "postgresql://interop:pw@127.0.0.1:5544/postgres"
    assert server.dsn_for("t_1") == "postgresql://interop:pw@127.0.0.1:5544/t_1"
