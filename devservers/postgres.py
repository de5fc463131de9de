"""Runs a throw-away local PostgreSQL server for tests and development.

It uses Debian's ``postgresql`` package (``initdb``/``pg_ctl`` from
``/usr/lib/postgresql/<major>/bin``, or the directory ``$INTEROP_PG_BIN`` names). When the
package is missing and we are root on a Debian-like machine with ``apt-get``, it installs
it: the test command must set itself up on a fresh machine. PostgreSQL refuses to run as
root, so under root every server command runs as the ``postgres`` system user (created by
the package) through ``runuser``, and the data directory belongs to that user.

The server listens on 127.0.0.1 only, with password (SCRAM) authentication for one
superuser, so the DSNs the tests use look like production ones (and password redaction is
exercised). ``fsync=off`` trades durability for speed: this server holds test data only.

``python -m devservers.postgres start --data-dir D [--port P]`` starts one and prints
its DSN (handy for sharing one server between test runs via ``INTEROP_TEST_POSTGRES``);
``stop --data-dir D`` stops it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from contracts.errors import InteropError
from devservers.ports import free_server_port

__all__ = ["PostgresRunner", "PostgresRunnerError", "RunningPostgres", "find_bin_dir"]

_SUPERUSER = "interop"
_STATE_FILE = "interop-postgres.json"
_START_TIMEOUT_S = 60


class PostgresRunnerError(InteropError):
    """The local PostgreSQL server could not be found, installed, started or stopped."""

    code = "POSTGRES_RUNNER_ERROR"


@dataclass(frozen=True, slots=True)
class RunningPostgres:
    """A started server and the superuser DSN that reaches it."""

    port: int
    data_dir: Path
    password: str

    @property
    def dsn(self) -> str:
        return self.dsn_for("postgres")

    def dsn_for(self, database: str) -> str:
        return f"postgresql://{_SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` live: ``$INTEROP_PG_BIN``, else the newest Debian major."""
    configured = os.environ.get("INTEROP_PG_BIN")
    if configured:
        return Path(configured) if (Path(configured) / "pg_ctl").exists() else None
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return candidates[-1].parent if candidates else None


def _install_package() -> None:
    """``apt-get install postgresql`` when we may (root, apt-get present); else explain."""
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise PostgresRunnerError(
            "PostgreSQL is not installed: install Debian's 'postgresql' package "
            "(apt-get install postgresql) or set INTEROP_PG_BIN to its bin directory"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        [apt, "-q", "update"],
        [apt, "-q", "install", "-y", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise PostgresRunnerError(f"could not install PostgreSQL ({' '.join(command)}): {tail}")


class PostgresRunner:
    """Initialises, starts and stops one server over ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._cluster = self.data_dir / "cluster"
        self._state = self.data_dir / _STATE_FILE
        self._as_root = os.geteuid() == 0

    # -- public --------------------------------------------------------------------------
    def start(self, port: int | None = None) -> RunningPostgres:
        """Start the server (initialising the cluster on first use); reuse a running one."""
        running = self._running()
        if running is not None:
            return running
        bin_dir = find_bin_dir()
        if bin_dir is None:
            _install_package()
            bin_dir = find_bin_dir()
            if bin_dir is None:
                raise PostgresRunnerError("PostgreSQL was installed but pg_ctl is not found")
        password = self._init_cluster(bin_dir)
        port = port if port is not None else free_server_port()
        log = self.data_dir / "server.log"
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self._cluster}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            " -c max_connections=300"
        )
        done = self._run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(self._cluster),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                str(_START_TIMEOUT_S),
                "start",
            ]
        )
        if done.returncode != 0:
            tail = (
                log.read_text(errors="replace").strip().splitlines()[-10:] if log.exists() else []
            )
            raise PostgresRunnerError(
                f"PostgreSQL did not start on port {port}: " + " | ".join(tail or [done.stderr])
            )
        state = {"port": port, "password": password, "bin_dir": str(bin_dir)}
        self._state.write_text(json.dumps(state))
        return RunningPostgres(port=port, data_dir=self.data_dir, password=password)

    def stop(self, *, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server if it runs. ``fast`` (the default: tests hold no data worth a
        wait) disconnects the clients and checkpoints; ``immediate`` is a crash: every
        server process quits at once, and the next start recovers from the WAL."""
        if not self._state.exists():
            return
        state = json.loads(self._state.read_text())
        bin_dir = Path(state["bin_dir"])
        self._run([str(bin_dir / "pg_ctl"), "-D", str(self._cluster), "-m", mode, "-w", "stop"])
        self._state.unlink(missing_ok=True)

    def postmaster_pid(self) -> int | None:
        """The running server's main process (its backends are its children), if any."""
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int((self._cluster / "postmaster.pid").read_text().splitlines()[0])
        return None

    # -- internals -----------------------------------------------------------------------
    def _running(self) -> RunningPostgres | None:
        if not self._state.exists():
            return None
        state = json.loads(self._state.read_text())
        pid_file = self._cluster / "postmaster.pid"
        if not pid_file.exists():
            return None
        with contextlib.suppress(OSError, ValueError):
            os.kill(int(pid_file.read_text().splitlines()[0]), 0)
            return RunningPostgres(
                port=int(state["port"]), data_dir=self.data_dir, password=str(state["password"])
            )
        return None

    def _init_cluster(self, bin_dir: Path) -> str:
        """``initdb`` once; the password lives next to the cluster, readable by us only."""
        password_file = self.data_dir / "superuser-password"
        if (self._cluster / "PG_VERSION").exists() and password_file.exists():
            return password_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(18)
        password_file.write_text(password)
        password_file.chmod(0o600)
        # initdb reads the password from a file the server's user can read.
        pwfile = self.data_dir / "initdb-pwfile"
        pwfile.write_text(password + "\n")
        self._cluster.mkdir(mode=0o700, exist_ok=True)
        if self._as_root:
            shutil.chown(self.data_dir, "postgres")
            shutil.chown(self._cluster, "postgres")
            shutil.chown(pwfile, "postgres")
        try:
            done = self._run(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(self._cluster),
                    "-U",
                    _SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if done.returncode != 0:
            raise PostgresRunnerError(f"initdb failed: {done.stderr.strip()[-500:]}")
        return password

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=_START_TIMEOUT_S * 2
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devservers.postgres")
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    runner = PostgresRunner(args.data_dir)
    try:
        if args.action == "start":
            print(runner.start(args.port).dsn)
        else:
            runner.stop()
    except PostgresRunnerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
