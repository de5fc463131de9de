"""Unit tests of the local broker runner that need neither a broker nor the network."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from devservers.kafka import KafkaRunner, MissingToolError, _new_cluster_id
from interop.cli import main


def _path_with(tmp_path: Path, tools: dict[str, str]) -> str:
    """A PATH holding only fake executables ``name -> shell body``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in tools.items():
        tool = bin_dir / name
        tool.write_text(f"#!/bin/sh\n{body}\n")
        tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


def test_cluster_id_is_kafka_uuid_form() -> None:
    """A cluster id decodes to 16 bytes of URL-safe base64 and never starts with '-'."""
    for _ in range(200):
        cluster_id = _new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_missing_java_is_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `java` on PATH, start fails with an install hint, not a Java stack trace."""
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    with pytest.raises(MissingToolError, match=r"`java` is not on PATH: install a JDK"):
        KafkaRunner(tmp_path / "data", cache_dir=tmp_path / "cache").start(port=1)


def test_old_java_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Java 11 runtime is refused with the version Kafka 4 needs."""
    fake_java = "echo 'openjdk version \"11.0.2\" 2019-01-15' >&2"
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"java": fake_java}))
    with pytest.raises(MissingToolError, match=r"needs Java 17 or newer .* is Java 11"):
        KafkaRunner(tmp_path / "data", cache_dir=tmp_path / "cache").start(port=1)


def test_missing_maven_is_one_clear_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no cached jars and no `mvn`, fetching says to install Maven."""
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    runner = KafkaRunner(tmp_path / "data", cache_dir=tmp_path / "empty-cache")
    with pytest.raises(MissingToolError, match=r"`mvn` is not on PATH: install Maven"):
        runner.ensure_jars()


def test_failed_maven_fetch_reports_its_error_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Maven failure is reported by its [ERROR] lines and leaves no half-filled cache."""
    mvn = 'echo "[INFO] Scanning"; echo "[ERROR] Could not resolve org.apache.kafka"; exit 1'
    monkeypatch.setenv("PATH", _path_with(tmp_path, {"mvn": mvn}))
    cache = tmp_path / "cache"
    runner = KafkaRunner(tmp_path / "data", cache_dir=cache)
    with pytest.raises(Exception, match=r"Could not resolve org.apache.kafka") as info:
        runner.ensure_jars()
    assert "[INFO]" not in str(info.value)
    assert not list(cache.rglob("*.jar"))
    assert not list(cache.rglob(".complete"))


def test_status_ignores_a_recycled_pid(tmp_path: Path) -> None:
    """A state file whose pid now belongs to another program does not count as running."""
    runner = KafkaRunner(tmp_path / "data", cache_dir=tmp_path / "cache")
    runner.data_dir.mkdir(parents=True)
    runner.state_file.write_text(
        json.dumps(
            {
                "pid": os.getpid(),  # alive, but this is pytest, not kafka.Kafka
                "host": "127.0.0.1",
                "port": 1,
                "controller_port": 2,
                "data_dir": str(runner.data_dir),
                "kafka_version": runner.kafka_version,
            }
        )
    )
    assert runner.status() is None


def test_status_of_a_garbled_state_file_is_not_running(tmp_path: Path) -> None:
    """A truncated state file is treated as no broker, not as a crash."""
    runner = KafkaRunner(tmp_path / "data", cache_dir=tmp_path / "cache")
    runner.data_dir.mkdir(parents=True)
    runner.state_file.write_text('{"pid": ')
    assert runner.status() is None


def test_cli_status_exit_code_and_stop_without_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`interop kafka status` exits 3 when nothing runs; `stop` then says so and exits 0."""
    data = str(tmp_path / "data")
    assert main(["kafka", "status", "--data-dir", data]) == 3
    assert "not running" in capsys.readouterr().out
    assert main(["kafka", "stop", "--data-dir", data]) == 0
    assert "no Kafka broker was running" in capsys.readouterr().out


def test_cli_prints_runner_errors_as_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing JDK reaches the user as one `interop: error` line with exit code 1."""
    monkeypatch.setenv("PATH", _path_with(tmp_path, {}))
    monkeypatch.setenv("INTEROP_CACHE_DIR", str(tmp_path / "cache"))
    code = main(["kafka", "start", "--data-dir", str(tmp_path / "data"), "--port", "1"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("interop: error [TOOL_MISSING]: ")
    assert err.count("\n") == 1
    assert "Traceback" not in err
