"""Runs a single-node Apache Kafka broker (KRaft, broker + controller) for dev and tests.

The broker's jars are fetched once with Maven from ``deploy/kafka/pom.xml`` into a cache
outside the repository; the broker runs from a data directory that survives restarts.
State about the running broker (pid, ports) lives in ``<data-dir>/broker.json`` so that a
second ``start`` reuses it and ``stop``/``status`` work from any shell.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import string
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, Literal

from bus import BrokerUnavailableError, KafkaSettings, probe_cluster
from contracts.errors import InteropError
from devservers.broker_auth import BrokerAuth
from devservers.ports import ephemeral_port_range, server_can_bind

__all__ = [
    "BrokerStartError",
    "BrokerTls",
    "KafkaRunner",
    "MissingToolError",
    "RunnerError",
    "RunningBroker",
    "default_cache_dir",
    "deploy_dir",
]

MIN_JAVA_MAJOR = 17
_READY_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 60.0
_LOG_TAIL_LINES = 15


class RunnerError(InteropError):
    """The local broker could not be fetched, started or stopped."""

    code = "KAFKA_RUNNER_ERROR"


class MissingToolError(RunnerError):
    """A tool the runner needs (JDK, Maven) is not installed."""

    code = "TOOL_MISSING"


class BrokerStartError(RunnerError):
    """The broker process did not come up; the message carries the tail of its log."""

    code = "BROKER_START_FAILED"


@dataclass(frozen=True, slots=True)
class RunningBroker:
    """A broker that answers metadata requests."""

    pid: int
    host: str
    port: int
    controller_port: int
    data_dir: str
    kafka_version: str
    reused: bool = False
    ssl_port: int | None = None
    sasl_ssl_port: int | None = None
    authenticated: bool = False
    """Started with ``BrokerAuth``: SASL/SCRAM clients only, the authorizer on."""

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def ssl_bootstrap_servers(self) -> str | None:
        """The SSL (mutual TLS) listener, when the broker was started with ``BrokerTls``."""
        return None if self.ssl_port is None else f"{self.host}:{self.ssl_port}"

    @property
    def sasl_ssl_bootstrap_servers(self) -> str | None:
        """The SASL_SSL (SCRAM over TLS) listener, when ``BrokerTls.sasl_ssl_port`` was set."""
        return None if self.sasl_ssl_port is None else f"{self.host}:{self.sasl_ssl_port}"


_SCRAM_MECHANISMS: Final = ("SCRAM-SHA-256", "SCRAM-SHA-512")
_SCRAM_CREDENTIAL_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, slots=True)
class BrokerTls:
    """TLS listeners for a test broker, beside the plaintext one the runner probes.

    ``keystore_pem`` holds the broker's private key (unencrypted PKCS#8) followed by its
    certificate chain; ``truststore_pem`` the CA certificates client certificates must
    chain to. With ``sasl_ssl_port``, a SASL_SSL listener accepts SCRAM-SHA-256/512 for
    ``scram_users`` (name -> password), whose credentials KRaft stores at format time: they
    only take effect on a fresh data directory.
    """

    ssl_port: int
    keystore_pem: Path
    truststore_pem: Path
    client_auth: Literal["required", "requested", "none"] = "required"
    sasl_ssl_port: int | None = None
    scram_users: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, password in self.scram_users.items():
            # The credentials travel on the StorageTool command line as name=...,password=...
            if not (
                _SCRAM_CREDENTIAL_RE.fullmatch(name) and _SCRAM_CREDENTIAL_RE.fullmatch(password)
            ):
                raise RunnerError("SCRAM user names and passwords must be 1..64 of [A-Za-z0-9._-]")

    def listeners(self) -> list[tuple[str, str, int]]:
        """(listener name, security protocol, port) of each TLS listener."""
        found = [("SSL", "SSL", self.ssl_port)]
        if self.sasl_ssl_port is not None:
            found.append(("SASL_SSL", "SASL_SSL", self.sasl_ssl_port))
        return found

    def settings(self) -> str:
        """The broker properties of the TLS listeners."""
        lines = [
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={self.keystore_pem}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.truststore_pem}",
            f"listener.name.ssl.ssl.client.auth={self.client_auth}",
            # Clients check the broker's name; the broker checks no client host names.
            "ssl.endpoint.identification.algorithm=",
        ]
        if self.sasl_ssl_port is not None:
            mechanisms = ",".join(_SCRAM_MECHANISMS)
            lines += [
                f"sasl.enabled.mechanisms={mechanisms}",
                f"listener.name.sasl_ssl.sasl.enabled.mechanisms={mechanisms}",
                "listener.name.sasl_ssl.ssl.client.auth=none",
            ]
            lines += [
                f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
                for m in _SCRAM_MECHANISMS
            ]
        return "\n".join(lines)

    def scram_arguments(self) -> list[str]:
        """``--add-scram`` arguments of ``kafka-storage format`` for every user."""
        return [
            argument
            for name, password in self.scram_users.items()
            for mechanism in _SCRAM_MECHANISMS
            for argument in ("--add-scram", f"{mechanism}=[name={name},password={password}]")
        ]


def deploy_dir() -> Path:
    """``deploy/kafka`` of this checkout (the runner needs the pom and config templates)."""
    here = Path(__file__).resolve().parent.parent / "deploy" / "kafka"
    if not (here / "pom.xml").is_file():
        raise RunnerError(
            f"cannot find deploy/kafka/pom.xml next to the interop package (looked in {here}); "
            "run interop from a checkout of interop-bus (pip install -e .)"
        )
    return here


def default_cache_dir() -> Path:
    """Where broker jars are cached: $INTEROP_CACHE_DIR, else $XDG_CACHE_HOME/interop-bus."""
    explicit = os.environ.get("INTEROP_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "interop-bus"


class KafkaRunner:
    """Fetches, formats, starts, probes and stops one local broker in ``data_dir``.

    With ``auth`` the broker authenticates every client (SASL/SCRAM) and authorizes every
    request (StandardAuthorizer, ACLs): ``devservers.broker_auth``.
    """

    def __init__(
        self, data_dir: Path, *, cache_dir: Path | None = None, auth: BrokerAuth | None = None
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.auth = auth
        self.cache_dir = (cache_dir or default_cache_dir()).resolve()
        self._deploy = deploy_dir()
        pom = (self._deploy / "pom.xml").read_bytes()
        match = re.search(rb"<kafka\.version>([^<]+)</kafka\.version>", pom)
        if match is None:
            raise RunnerError("deploy/kafka/pom.xml does not pin <kafka.version>")
        self.kafka_version = match.group(1).decode()
        # The pom's digest names the cache entry, so editing the pom fetches afresh.
        self._libs_dir = (
            self.cache_dir
            / f"kafka-{self.kafka_version}-{hashlib.sha256(pom).hexdigest()[:12]}"
            / "libs"
        )

    # -- paths -------------------------------------------------------------------------
    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def broker_log(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def auth_file(self) -> Path:
        """The ``BrokerAuth`` the data directory was formatted with (0600): a broker
        formatted with authentication keeps it on every later start, whoever starts it."""
        return self.data_dir / "broker-auth.json"

    # -- jars --------------------------------------------------------------------------
    def ensure_jars(self) -> Path:
        """Return the directory of broker jars, fetching them with Maven on first use."""
        marker = self._libs_dir.parent / ".complete"
        if marker.is_file():
            return self._libs_dir
        self._libs_dir.parent.mkdir(parents=True, exist_ok=True)
        with _file_lock(self._libs_dir.parent / ".fetch.lock"):
            if marker.is_file():  # another process fetched while we waited
                return self._libs_dir
            mvn = shutil.which("mvn")
            if mvn is None:
                raise MissingToolError(
                    "Maven is needed once to fetch the Kafka broker's jars and `mvn` is not "
                    "on PATH: install Maven (Debian: apt-get install maven)."
                )
            staging = Path(tempfile.mkdtemp(prefix="libs-", dir=self._libs_dir.parent))
            command = [
                mvn,
                "-B",
                "-q",
                "-f",
                str(self._deploy / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={staging}",
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
                shutil.rmtree(staging, ignore_errors=True)
                errors = [line for line in result.stdout.splitlines() if line.startswith("[ERROR]")]
                detail = " ".join(errors[:3]) or result.stderr.strip()[-400:] or "no output"
                raise RunnerError(
                    f"Maven could not fetch Apache Kafka {self.kafka_version}: {detail}"
                )
            if self._libs_dir.exists():
                shutil.rmtree(self._libs_dir)
            staging.rename(self._libs_dir)
            marker.write_text(self.kafka_version + "\n")
        return self._libs_dir

    # -- lifecycle ---------------------------------------------------------------------
    def status(self) -> RunningBroker | None:
        """The broker recorded in ``data_dir`` if its process is alive, else ``None``."""
        state = self._read_state()
        if state is None or not _kafka_process_alive(state.pid):
            return None
        return state

    def start(
        self,
        *,
        port: int = 9092,
        controller_port: int | None = None,
        host: str = "127.0.0.1",
        timeout_s: float = _READY_TIMEOUT_S,
        tls: BrokerTls | None = None,
    ) -> RunningBroker:
        """Start the broker (or reuse the one running from ``data_dir``) and wait for it.

        ``tls`` adds TLS listeners (tests of the client security settings).
        """
        java = _require_java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.data_dir / ".runner.lock"):
            self._adopt_saved_auth()
            running = self.status()
            if running is not None:
                self._check_reusable(running)
                asyncio.run(self._wait_ready(running, None, timeout_s))
                return RunningBroker(**{**asdict(running), "reused": True})
            if tls is not None and self.auth is not None:
                raise RunnerError("a broker takes TLS test listeners or BrokerAuth, not both")
            libs = self.ensure_jars()
            controller_port = controller_port if controller_port is not None else port + 1
            tls_ports = [p for _, _, p in tls.listeners()] if tls is not None else []
            for p in (port, controller_port, *tls_ports):
                _require_free_port(host, p)
            self._write_config(host, port, controller_port, tls)
            self._format_once(java, libs, tls.scram_arguments() if tls is not None else [])
            pid = self._spawn(java, libs)
            broker = RunningBroker(
                pid=pid,
                host=host,
                port=port,
                controller_port=controller_port,
                data_dir=str(self.data_dir),
                kafka_version=self.kafka_version,
                ssl_port=tls.ssl_port if tls is not None else None,
                sasl_ssl_port=tls.sasl_ssl_port if tls is not None else None,
                authenticated=self.auth is not None,
            )
            self._write_state(broker)
            try:
                asyncio.run(self._wait_ready(broker, pid, timeout_s))
            except BaseException:
                _terminate(pid, _STOP_TIMEOUT_S)
                self.state_file.unlink(missing_ok=True)
                raise
            return broker

    def stop(self, *, timeout_s: float = _STOP_TIMEOUT_S) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL after ``timeout_s``).

        Returns False when no broker was running from ``data_dir``.
        """
        with _file_lock(self.data_dir / ".runner.lock"):
            running = self.status()
            self.state_file.unlink(missing_ok=True)
            if running is None:
                return False
            _terminate(running.pid, timeout_s)
            return True

    def probe_target(self, bootstrap_servers: str) -> KafkaSettings | str:
        """What the readiness probe connects with: the administrator's login, or nothing."""
        if self.auth is None:
            return bootstrap_servers
        return self.auth.admin_settings(bootstrap_servers)

    # -- internals ---------------------------------------------------------------------
    def _adopt_saved_auth(self) -> None:
        """Without ``auth`` given, use the one the data directory was formatted with."""
        if self.auth is not None or not self.auth_file.is_file():
            return
        try:
            self.auth = BrokerAuth.from_json(self.auth_file.read_text())
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise RunnerError(f"cannot read the broker's logins in {self.auth_file}") from exc

    def _check_reusable(self, running: RunningBroker) -> None:
        """A broker already running from ``data_dir`` must be secured as asked."""
        if not running.authenticated and self.auth is not None:
            raise RunnerError(
                f"the broker running from {self.data_dir} has no authentication; stop it "
                "first (interop kafka stop --data-dir ...) so it restarts with SASL/SCRAM and ACLs"
            )

    def _format_once(self, java: str, libs: Path, tls_scram_arguments: list[str]) -> None:
        """Format a fresh data directory (with the SCRAM users); check a formatted one
        holds the very logins asked for, since credentials are only written at format."""
        if not (self.log_dir / "meta.properties").is_file():
            auth_arguments = self.auth.scram_arguments() if self.auth is not None else []
            self._format(java, libs, [*tls_scram_arguments, *auth_arguments])
            if self.auth is not None:
                self._write_private(self.auth_file, self.auth.to_json())
            else:
                self.auth_file.unlink(missing_ok=True)
            return
        if self.auth is None:
            return
        try:
            formatted = BrokerAuth.from_json(self.auth_file.read_text())
        except (OSError, ValueError, TypeError, KeyError):
            formatted = None
        if formatted != self.auth:
            raise RunnerError(
                f"the broker data in {self.log_dir} was formatted "
                + ("without authentication" if formatted is None else "with other Kafka logins")
                + " (SCRAM credentials are only written when a data directory is formatted): "
                "remove that directory to start afresh, or run without authentication "
                "(interop dev --insecure)"
            )

    def _cluster_id_to_format(self) -> str:
        """The cluster id a fresh data directory is formatted with (a node of a multi-node
        cluster, ``devservers.kafka_cluster``, returns the id all its nodes share)."""
        return _new_cluster_id()

    def _heap_options(self) -> tuple[str, ...]:
        """JVM heap flags of the broker (cluster nodes run smaller heaps)."""
        return ("-Xms256m", "-Xmx1g")

    def _write_config(
        self, host: str, port: int, controller_port: int, tls: BrokerTls | None
    ) -> None:
        template = string.Template((self._deploy / "server.properties.template").read_text())
        self._write_private(
            self.config_file,
            template.substitute(
                host=host,
                port=port,
                controller_port=controller_port,
                log_dir=self.log_dir,
                listener_settings=self._listener_settings(host, port, controller_port, tls),
                security_settings=self._security_settings(tls),
            ),
        )

    def _listener_settings(
        self, host: str, port: int, controller_port: int, tls: BrokerTls | None
    ) -> str:
        if self.auth is not None:
            return self.auth.listener_settings(host, port, controller_port)
        listeners = [("PLAINTEXT", "PLAINTEXT", port), *(tls.listeners() if tls else [])]
        client = ",".join(f"{name}://{host}:{p}" for name, _, p in listeners)
        protocols = ",".join(f"{name}:{protocol}" for name, protocol, _ in listeners)
        return "\n".join(
            [
                f"listeners={client},CONTROLLER://{host}:{controller_port}",
                f"advertised.listeners={client}",
                "inter.broker.listener.name=PLAINTEXT",
                f"listener.security.protocol.map={protocols},CONTROLLER:PLAINTEXT",
            ]
        )

    def _security_settings(self, tls: BrokerTls | None) -> str:
        if self.auth is not None:
            return self.auth.settings()
        return tls.settings() if tls is not None else ""

    @staticmethod
    def _write_private(path: Path, text: str) -> None:
        """Write a file only its owner can read: broker configs carry the JAAS passwords."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(path, 0o600)

    def _format(self, java: str, libs: Path, extra_arguments: list[str]) -> None:
        cluster_id = self._cluster_id_to_format()
        result = subprocess.run(
            [
                java,
                "-cp",
                f"{libs}/*",
                f"-Dlog4j2.configurationFile={self._deploy / 'log4j2.yaml'}",
                "kafka.tools.StorageTool",
                "format",
                "--cluster-id",
                cluster_id,
                "--config",
                str(self.config_file),
                *extra_arguments,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            detail = (result.stderr.strip() or result.stdout.strip()).splitlines()[-1:]
            raise BrokerStartError(f"formatting {self.log_dir} failed: {' '.join(detail)}")

    def _spawn(self, java: str, libs: Path) -> int:
        """Start the broker detached and return its pid.

        A launcher shell backgrounds the JVM and exits, so the broker is re-parented to
        init: it outlives `interop kafka start`, is in its own session (a Ctrl-C in the
        starting shell does not reach it), and never lingers as our zombie after a stop.
        """
        launcher = subprocess.run(
            [
                "/bin/sh",
                "-c",
                'exec "$@" </dev/null >>"$INTEROP_BROKER_LOG" 2>&1 &\necho $!',
                "interop-kafka-launcher",
                java,
                *self._heap_options(),
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={self._deploy / 'log4j2.yaml'}",
                "-cp",
                f"{libs}/*",
                "kafka.Kafka",
                str(self.config_file),
            ],
            env={**os.environ, "INTEROP_BROKER_LOG": str(self.broker_log)},
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            start_new_session=True,
            check=False,
        )
        try:
            return int(launcher.stdout.strip())
        except ValueError:
            raise BrokerStartError(
                f"could not launch the Kafka broker: {launcher.stderr.strip() or 'no pid'}"
            ) from None

    async def _wait_ready(
        self,
        broker: RunningBroker,
        pid: int | None,
        timeout_s: float,
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            if pid is not None and _process_gone(pid):
                raise BrokerStartError(
                    "the Kafka broker exited while starting; "
                    f"last lines of {self.broker_log}:\n{self._log_tail()}"
                )
            try:
                await probe_cluster(self.probe_target(broker.bootstrap_servers), timeout_s=2.0)
                return
            except BrokerUnavailableError:
                if time.monotonic() >= deadline:
                    raise BrokerStartError(
                        f"the Kafka broker did not answer at {broker.bootstrap_servers} within "
                        f"{timeout_s:.0f}s; last lines of {self.broker_log}:\n{self._log_tail()}"
                    ) from None
            await asyncio.sleep(0.2)

    def _log_tail(self) -> str:
        try:
            lines = self.broker_log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL_LINES:])

    def _read_state(self) -> RunningBroker | None:
        try:
            raw = json.loads(self.state_file.read_text())
            return RunningBroker(**{**raw, "reused": False})
        except (OSError, ValueError, TypeError):
            return None

    def _write_state(self, broker: RunningBroker) -> None:
        tmp = self.state_file.with_suffix(".tmp")
        state = asdict(broker)
        state.pop("reused")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        tmp.replace(self.state_file)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Serialise runners that share a cache or data directory (tests run side by side)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise MissingToolError(
            f"a Java runtime {MIN_JAVA_MAJOR} or newer is needed to run the Kafka broker and "
            "`java` is not on PATH: install a JDK "
            "(Debian: apt-get install openjdk-17-jdk-headless)."
        )
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr + result.stdout)
    if match is None:
        raise MissingToolError(f"could not tell the version of {java}: is it a working JDK?")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0" style
        major = int(match.group(2))
    if major < MIN_JAVA_MAJOR:
        raise MissingToolError(
            f"Apache Kafka 4 needs Java {MIN_JAVA_MAJOR} or newer and {java} is Java {major}: "
            "install a newer JDK (Debian: apt-get install openjdk-17-jdk-headless)."
        )
    return java


def _require_free_port(host: str, port: int) -> None:
    low, high = ephemeral_port_range()
    if low <= port <= high:
        raise BrokerStartError(
            f"port {port} is in this machine's ephemeral range ({low}-{high}): a client "
            "reconnecting to a stopped broker there can be given that port as its own and "
            f"connect to itself; choose a port below {low} with --port"
        )
    # As the broker binds (the JVM sets SO_REUSEADDR): connections of a stopped broker
    # lingering in TIME_WAIT must not make the port look taken for minutes.
    if not server_can_bind(host, port):
        raise BrokerStartError(
            f"port {port} on {host} is already in use by another program: "
            "choose another with --port"
        )


def _new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding.

    Kafka's own generator avoids ids starting with '-' (they read as a CLI flag).
    """
    while True:
        encoded = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not encoded.startswith("-"):
            return encoded


def _process_gone(pid: int) -> bool:
    """True once ``pid`` has exited (gone from /proc, or a zombie awaiting its parent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def _kafka_process_alive(pid: int) -> bool:
    """Is ``pid`` a live (not zombie) Kafka broker? Guards against recycled pids."""
    if _process_gone(pid):
        return False
    try:
        return b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _terminate(pid: int, timeout_s: float) -> None:
    """SIGTERM (Kafka's controlled shutdown flushes the log), SIGKILL if it hangs."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while _kafka_process_alive(pid):
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            kill_deadline = time.monotonic() + 10
            while _kafka_process_alive(pid) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
            return
        time.sleep(0.05)
