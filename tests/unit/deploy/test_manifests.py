"""``deploy/`` uses exactly the CLI and settings the code has.

Every ``interop`` command line in the Dockerfile, the compose file and the Kubernetes
manifests is parsed by the real argparse tree (``interop.cli.build_parser``); every
``INTEROP_*`` environment variable they set must name a field of the settings models;
every configuration file they carry (gateway, connector, topics, members) is validated
by the model that will read it. A renamed flag or settings field fails here, not in a
cluster at three in the morning.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import shlex
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from bus.provisioning import TopicsConfig
from contracts import load_catalogue
from gateway.members import MemberDirectory, load_members_file
from gateway.ops_api import OPS_PATHS
from interop.cli import build_parser
from interop.settings import InteropSettings

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
# INTEROP_* variables read outside the settings models (the broker runner's jar cache).
OTHER_INTEROP_VARIABLES = frozenset({"INTEROP_CACHE_DIR"})
_SECRETS_FOR_VALIDATION = {
    "subject_hmac_key": "x" * 40,
    "audit_digest_key": "y" * 40,
}


@dataclass(frozen=True)
class CommandLine:
    """One process command line found in a deployment file."""

    where: str
    argv: list[str]


def _k8s_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                yield path.name, doc


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


def _containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for name, doc in _k8s_documents():
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec", {})
        for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
            yield f"{name}:{doc['metadata']['name']}/{container['name']}", container


def _interop_invocations(where: str, argv: list[str]) -> Iterator[CommandLine]:
    """``interop ...`` command lines in ``argv``, including inside ``sh -c`` scripts."""
    if argv[:2] in (["/bin/sh", "-c"], ["sh", "-c"]):
        for script in argv[2:]:
            for statement in re.split(r"[;\n]|&&", script):
                words = shlex.split(statement)
                if words[:1] == ["exec"]:
                    words = words[1:]
                if words[:1] == ["interop"]:
                    yield CommandLine(where, words)
        return
    if argv[:1] == ["interop"]:
        yield CommandLine(where, argv)


def _command_lines() -> list[CommandLine]:
    found: list[CommandLine] = []
    for where, container in _containers():
        argv = [*container.get("command", []), *container.get("args", [])]
        found += _interop_invocations(where, argv)
    for name, service in _compose()["services"].items():
        if "command" in service:
            found += _interop_invocations(f"compose.yaml:{name}", list(service["command"]))
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("CMD "):
            found += _interop_invocations("Dockerfile CMD", yaml.safe_load(line[4:]))
    return found


def test_deployments_run_interop_commands() -> None:
    """The scan finds the commands it is meant to check (or it would check nothing)."""
    commands = {tuple(c.argv[1:3]) for c in _command_lines()}
    assert ("gateway", "--config") in commands or any("gateway" in c.argv for c in _command_lines())
    words = {word for c in _command_lines() for word in c.argv}
    assert {"gateway", "connector", "topics", "apply", "run"} <= words


@pytest.mark.parametrize("command", _command_lines(), ids=lambda c: c.where)
def test_every_interop_command_line_parses(command: CommandLine) -> None:
    """The real parser accepts the command line and it reaches a command handler."""
    parser = build_parser()
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr):
        try:
            args = parser.parse_args(command.argv[1:])
        except SystemExit:
            pytest.fail(f"{command.where}: `{shlex.join(command.argv)}`: {stderr.getvalue()}")
    assert callable(getattr(args, "handler", None)), f"{command.where}: no command selected"


def test_the_parser_refuses_an_unknown_flag() -> None:
    """The check above can fail: a flag that does not exist is refused."""
    with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit):
        build_parser().parse_args(["topics", "apply", "--no-such-flag"])


# -- environment variables ----------------------------------------------------------------
def _environment_names() -> list[tuple[str, str]]:
    names: list[tuple[str, str]] = []
    for where, container in _containers():
        names += [(where, env["name"]) for env in container.get("env", [])]
        script = " ".join([*container.get("command", []), *container.get("args", [])])
        names += [(where, n) for n in re.findall(r"export (INTEROP[A-Z0-9_]*)=", script)]
    for name, doc in _k8s_documents():
        if doc["kind"] == "Secret":
            names += [(f"{name}:{doc['metadata']['name']}", key) for key in doc["stringData"]]
    for name, service in _compose()["services"].items():
        names += [(f"compose.yaml:{name}", key) for key in service.get("environment", {})]
    return [(where, n) for where, n in names if n.startswith("INTEROP")]


def _resolve_env(name: str) -> str | None:
    """None if ``name`` is a settings field, else what is wrong with it."""
    if name.startswith("INTEROP__"):
        return _resolve_path(InteropSettings, name.removeprefix("INTEROP__").lower().split("__"))
    if name in OTHER_INTEROP_VARIABLES:
        return None
    return "is not INTEROP__<field> (the one settings root)"


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = options[0] if len(options) == 1 else annotation
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _resolve_path(model: type[BaseModel], path: list[str]) -> str | None:
    fields = model.model_fields
    head, rest = path[0], path[1:]
    if head not in fields:
        return f"{model.__name__} has no field {head!r}"
    if not rest:
        return None
    nested = _nested_model(fields[head].annotation)
    if nested is None:
        return f"{model.__name__}.{head} has no sub-fields"
    return _resolve_path(nested, rest)


def test_environment_variables_name_settings_fields() -> None:
    """Every INTEROP_* variable set anywhere in deploy/ is read by the settings models."""
    names = _environment_names()
    assert len(names) >= 10, names
    problems = [f"{where}: {name} {why}" for where, name in names if (why := _resolve_env(name))]
    assert problems == []


def test_the_environment_check_refuses_a_misspelt_variable() -> None:
    """The check can fail: a misspelt field is reported."""
    assert _resolve_env("INTEROP__GATEWAY__SUBJECT_HMAC") is not None
    assert _resolve_env("INTEROP__CONNECTOR__AUDIT_DIGEST_KEY") is None
    assert _resolve_env("INTEROP__CONNECTOR__AUDIT_DIGEST") is not None
    # The connector's own prefix before the one root is gone: refused, not ignored.
    assert _resolve_env("INTEROP_CONNECTOR__AUDIT_DIGEST_KEY") is not None


# -- configuration files -------------------------------------------------------------------
def _config_files() -> list[tuple[str, str, str]]:
    """(where, file name, YAML text) of every configuration file deploy/ ships."""
    files = [
        (f"deploy/{p.relative_to(DEPLOY)}", p.name, p.read_text())
        for pattern in ("config/*.yaml", "topics*.yaml", "compose/members.yaml")
        for p in sorted(DEPLOY.glob(pattern))
    ]
    for name, doc in _k8s_documents():
        if doc["kind"] == "ConfigMap":
            for key, text in doc["data"].items():
                files.append((f"{name}:{doc['metadata']['name']}/{key}", key, text))
    return files


def _with_secrets(kafka: dict[str, Any]) -> dict[str, Any]:
    # Secrets come from the environment (k8s Secrets, compose environment), not the file.
    if str(kafka.get("security_protocol", "")).startswith("SASL"):
        return kafka | {"sasl_password": "from-the-secret"}
    return kafka


def _validate(file_name: str, text: str) -> None:
    data = yaml.safe_load(text)
    if isinstance(data, dict) and "kafka" in data:
        data = data | {"kafka": _with_secrets(data["kafka"])}
    if file_name.startswith("topics"):
        TopicsConfig.model_validate(data)
    elif file_name.startswith("connector"):
        secrets = {
            "audit_digest_key": _SECRETS_FOR_VALIDATION["audit_digest_key"],
            "gateway_keys": {"k": "unused"},
        }
        settings = InteropSettings.model_validate(data | {"connector": secrets | data["connector"]})
        assert settings.connector is not None
        assert settings.connector.kafka == settings.kafka  # the root's, as the loader gives
    elif file_name.startswith("gateway"):
        gateway = {"subject_hmac_key": _SECRETS_FOR_VALIDATION["subject_hmac_key"]}
        InteropSettings.model_validate(data | {"gateway": gateway | data["gateway"]})
    elif file_name.startswith("members"):
        members = yaml.safe_load(text)
        assert members["members"]
    else:
        pytest.fail(f"no model known for {file_name}")


@pytest.mark.parametrize(
    ("where", "file_name", "text"), [pytest.param(*f, id=f[0]) for f in _config_files()]
)
def test_configuration_files_are_valid_settings(where: str, file_name: str, text: str) -> None:
    """Each file passes the model that reads it (unknown keys are refused: extra=forbid)."""
    _validate(file_name, text)


def test_members_files_fit_the_catalogue(tmp_path: Path) -> None:
    """Members files name services and purposes the catalogue has."""
    catalogue = load_catalogue()
    texts = [(DEPLOY / "compose" / "members.yaml").read_text()]
    texts += [text for _, name, text in _config_files() if name == "members.yaml"]
    for index, text in enumerate(texts):
        path = tmp_path / f"members-{index}.yaml"
        path.write_text(text)
        MemberDirectory.from_config(load_members_file(path), catalogue)


def test_a_config_with_an_unknown_key_is_refused() -> None:
    """The config check can fail: a misspelt key is refused."""
    with pytest.raises(ValueError, match="bootstrap_server"):
        _validate("gateway.yaml", "kafka: {bootstrap_server: x:1}\ngateway: {}\n")


# -- workloads --------------------------------------------------------------------------------
def test_probes_use_the_ops_endpoints_and_declared_ports() -> None:
    """Readiness is /readyz and liveness /healthz, on a port the container declares."""
    probed = 0
    for where, container in _containers():
        ports = {p["name"] for p in container.get("ports", [])}
        for kind, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            probe = container.get(kind)
            if probe is None:
                continue
            probed += 1
            assert probe["httpGet"]["path"] == path, where
            assert probe["httpGet"]["path"] in OPS_PATHS
            assert probe["httpGet"]["port"] in ports, where
    assert probed >= 4


def test_config_paths_in_commands_are_mounted_from_configmaps() -> None:
    """A file a k8s command reads is a key of a ConfigMap mounted at that directory."""
    configmaps = {
        doc["metadata"]["name"]: set(doc["data"])
        for _, doc in _k8s_documents()
        if doc["kind"] == "ConfigMap"
    }
    checked = 0
    for _, doc in _k8s_documents():
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod.get("containers", []):
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container["volumeMounts"]}
            script = " ".join([*container.get("command", []), *container.get("args", [])])
            for path in re.findall(r"/etc/interop/[\w./-]+\.yaml", script):
                folder, _, key = path.rpartition("/")
                volume = mounts.get(folder)
                assert volume is not None, path
                assert "configMap" in volume, path
                assert key in configmaps[volume["configMap"]["name"]], path
                checked += 1
    assert checked >= 3


def test_gateway_replicas_own_disjoint_reply_partitions() -> None:
    """Replica k owns 4k..4k+3; replicas x 4 must fit the reply topic of topics.yaml."""
    (gateway,) = [
        doc
        for _, doc in _k8s_documents()
        if doc["kind"] == "StatefulSet" and doc["metadata"]["name"] == "interop-gateway"
    ]
    (topics_map,) = [
        doc
        for _, doc in _k8s_documents()
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "interop-topics"
    ]
    topics = TopicsConfig.model_validate(yaml.safe_load(topics_map["data"]["topics.yaml"]))
    assert gateway["spec"]["replicas"] >= 2
    assert gateway["spec"]["replicas"] * 4 <= topics.reply.partitions


def test_dockerfile_installs_the_lock_file_with_hashes_and_runs_unprivileged() -> None:
    """Multi-stage, ``--require-hashes -r requirements.lock``, a numeric non-root USER, and
    every COPY source exists in the repository."""
    text = (DEPLOY / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert re.search(r"pip install --require-hashes[^\n]*\\\n\s+-r /tmp/requirements.lock", text)
    (user,) = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert user.split(":")[0] not in {"0", "root"}
    for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), source
