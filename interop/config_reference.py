"""``interop config reference``: the configuration reference and metrics list, generated.

The reference is read off the settings models themselves (field names, types, bounds,
defaults and their docstrings), so ``docs/operations.md`` cannot drift from the code:
``--write`` replaces the generated blocks of that file, ``--check`` fails when they are
stale (a test runs it). The metrics list is read off the Prometheus registries the
gateway and the connector create. Secrets show no default value, ever.
"""

from __future__ import annotations

import argparse
import ast
import enum
import inspect
import itertools
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bus import KafkaSettings, ReplicationHealth, TopicsConfig
from connectors.metrics import ConnectorMetrics
from gateway.batches import BatchMetrics
from gateway.metrics import GatewayMetrics
from interop.settings import InteropSettings, SettingsError

__all__ = ["generated_blocks", "metrics_reference", "register", "settings_reference", "update"]

DEFAULT_DOC = Path("docs/operations.md")
_BEGIN: Final = "<!-- BEGIN GENERATED {name} (interop config reference --write) -->"
_END: Final = "<!-- END GENERATED {name} -->"


@dataclass(frozen=True, slots=True)
class _Root:
    title: str
    model: type[BaseModel]
    env_prefix: str | None
    intro: str


_ROOTS: Final = (
    _Root(
        "Settings (`interop gateway --config FILE`, `interop connector run FILE`)",
        InteropSettings,
        "INTEROP__",
        "One root for every process: `kafka`, and the section of the process that runs, "
        "`gateway` or `connector` (a connector's `kafka` is the root's unless its section "
        "gives one; adapters add their own keys under `connector.services[].adapter`). Every "
        "key can also be set with the environment variable shown (it overrides the file). "
        "`interop topics apply --settings FILE` reads only `kafka` from the same file.",
    ),
    _Root(
        "Topics config (`interop topics apply --config FILE`)",
        TopicsConfig,
        None,
        "The deployment's topic layout (`deploy/topics.yaml`); no environment variables.",
    ),
)


# -- settings -----------------------------------------------------------------------------
def settings_reference() -> str:
    """The Markdown reference of every settings model, one table per root."""
    out: list[str] = []
    for root in _ROOTS:
        out += [f"### {root.title}", "", root.intro, ""]
        out += ["| key | type | default | environment variable | description |"]
        out += ["|---|---|---|---|---|"]
        for row in _rows(root.model, (), root.env_prefix, None):
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _rows(
    model: type[BaseModel],
    path: tuple[str, ...],
    env_prefix: str | None,
    instance: BaseModel | None,
) -> Iterator[tuple[str, str, str, str, str]]:
    """Rows of ``model``'s fields; ``instance`` is the section's default when the parent
    gives one (the reply section's defaults are not the request section's)."""
    docs = _attribute_docstrings(model)
    for name, info in model.model_fields.items():
        key = (*path, name)
        nested = _nested_model(info.annotation)
        env = f"`{env_prefix}{'__'.join(key).upper()}`" if env_prefix else ""
        description = _one_line(info.description or docs.get(name, ""))
        if nested is not None:
            yield (
                f"`{'.'.join(key)}`",
                "section",
                "",
                "",
                description or _one_line(nested.__doc__ or ""),
            )
            default = _section_default(info, instance, name)
            yield from _rows(nested, key, env_prefix, default)
            continue
        yield (
            f"`{'.'.join(key)}`",
            _type_name(info.annotation) + _bounds(info),
            _default(info, instance, name),
            env,
            description,
        )


def _section_default(info: FieldInfo, parent: BaseModel | None, name: str) -> BaseModel | None:
    value = getattr(parent, name) if parent is not None else _plain_default(info)
    return value if isinstance(value, BaseModel) else None


def _plain_default(info: FieldInfo) -> Any:
    if info.default is PydanticUndefined and info.default_factory is None:
        return PydanticUndefined
    return info.get_default(call_default_factory=True)


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if _is_union(annotation) and len(options) == 1:
        annotation = options[0]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType)


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if _is_union(annotation):
        return " or ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (list, tuple, set, frozenset, dict):
        return _container_name(origin, args)
    return _plain_name(annotation)


def _container_name(origin: Any, args: tuple[Any, ...]) -> str:
    if origin is dict:
        return f"map of {_type_name(args[0])} to {_type_name(args[1])}"
    return f"list of {_type_name(args[0])}" if args else "list"


def _plain_name(annotation: Any) -> str:
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret string"
    if inspect.isclass(annotation) and issubclass(annotation, enum.Enum):
        return "one of " + ", ".join(f"`{m.value}`" for m in annotation)
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation.__name__
    names = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path"}
    return names.get(annotation, getattr(annotation, "__name__", str(annotation)))


def _bounds(info: FieldInfo) -> str:
    marks = []
    for meta in _metadata(info):
        if isinstance(meta, Ge):
            marks.append(f">= {meta.ge}")
        elif isinstance(meta, Gt):
            marks.append(f"> {meta.gt}")
        elif isinstance(meta, Le):
            marks.append(f"<= {meta.le}")
        elif isinstance(meta, Lt):
            marks.append(f"< {meta.lt}")
        if isinstance(meta, MinLen) and meta.min_length:
            marks.append(f"at least {meta.min_length}")
        if isinstance(meta, MaxLen):
            marks.append(f"at most {meta.max_length}")
    return f" ({', '.join(marks)})" if marks else ""


def _metadata(info: FieldInfo) -> Iterator[Any]:
    yield from info.metadata
    stack = [info.annotation]
    while stack:
        annotation = stack.pop()
        if typing.get_origin(annotation) is typing.Annotated:
            yield from typing.get_args(annotation)[1:]
            stack.append(typing.get_args(annotation)[0])
        elif _is_union(annotation):
            stack.extend(typing.get_args(annotation))


def _default(info: FieldInfo, parent: BaseModel | None, name: str) -> str:
    value = getattr(parent, name) if parent is not None else _plain_default(info)
    if value is PydanticUndefined:
        return "**required**"
    if value is None:
        return "none"
    if isinstance(value, tuple | list | dict) and not value:
        return "empty"
    if _mentions_secret(info.annotation):
        return "(secret)"
    if isinstance(value, Path) and value.is_absolute():
        # Defaults computed from the checkout (the bundled catalogue) read as repo paths.
        root = Path(__file__).resolve().parent.parent
        value = value.relative_to(root) if value.is_relative_to(root) else value
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple):
        value = list(value)
    return f"`{value}`"


def _mentions_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    return any(_mentions_secret(a) for a in typing.get_args(annotation))


def _attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """``field: type = default`` followed by a string literal: that literal, per field."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (inspect.isclass(cls) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(cls))
        except (OSError, TypeError):
            continue
        node = ast.parse(source).body[0]
        if not isinstance(node, ast.ClassDef):
            continue
        for statement, following in itertools.pairwise(node.body):
            if (
                isinstance(statement, ast.AnnAssign)
                and isinstance(statement.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[statement.target.id] = following.value.value
    return docs


def _one_line(text: str) -> str:
    return " ".join(inspect.cleandoc(text).split())


# -- metrics ------------------------------------------------------------------------------
def metrics_reference() -> str:
    """The Markdown list of every metric the gateway and a connector export."""
    out = ["| metric | type | labels | served by | description |", "|---|---|---|---|---|"]
    sources: list[tuple[str, CollectorRegistry]] = []
    gateway_registry = CollectorRegistry()
    GatewayMetrics(gateway_registry)
    BatchMetrics(gateway_registry)
    sources.append(("gateway `/metrics`", gateway_registry))
    connector_registry = CollectorRegistry()
    ConnectorMetrics(connector_registry)
    sources.append(("connector `/metrics`", connector_registry))
    replication_registry = CollectorRegistry()  # both serve it, updated by readiness probes
    ReplicationHealth(KafkaSettings(bootstrap_servers="unused:9092"), registry=replication_registry)
    sources.append(("gateway and connector `/metrics`", replication_registry))
    for served_by, registry in sources:
        for family in sorted(registry.collect(), key=lambda f: f.name):
            name = family.name + ("_total" if family.type == "counter" else "")
            labels = sorted(
                {
                    label
                    for sample in family.samples
                    for label in sample.labels
                    if label not in {"le", "quantile"}
                }
                | set(_declared_labels(registry, family.name))
            )
            out.append(
                f"| `{name}` | {family.type} | {', '.join(f'`{x}`' for x in labels) or '-'} "
                f"| {served_by} | {_one_line(family.documentation)} |"
            )
    return "\n".join(out) + "\n"


def _declared_labels(registry: CollectorRegistry, name: str) -> tuple[str, ...]:
    # A labelled metric with no children yet has no samples: read its declared labels.
    collectors = getattr(registry, "_names_to_collectors", {})
    for key in (name, f"{name}_total"):
        collector = collectors.get(key)
        if collector is not None:
            return tuple(getattr(collector, "_labelnames", ()))
    return ()


# -- the document -------------------------------------------------------------------------
def generated_blocks() -> dict[str, str]:
    """Name -> Markdown of every generated block of the operations page."""
    return {"config-reference": settings_reference(), "metrics": metrics_reference()}


def update(document: str) -> str:
    """``document`` with every generated block replaced by the current one."""
    for name, body in generated_blocks().items():
        begin, end = _BEGIN.format(name=name), _END.format(name=name)
        start, stop = document.find(begin), document.find(end)
        if start < 0 or stop < start:
            raise SettingsError(f"the document has no {begin} ... {end} block")
        document = document[: start + len(begin)] + "\n" + body + document[stop:]
    return document


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``config`` command group."""
    config = subparsers.add_parser("config", help="configuration reference")
    commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    reference = commands.add_parser(
        "reference", help="print the configuration reference and metrics list (Markdown)"
    )
    mode = reference.add_mutually_exclusive_group()
    mode.add_argument(
        "--write", type=Path, metavar="DOC", help=f"update DOC's generated blocks ({DEFAULT_DOC})"
    )
    mode.add_argument(
        "--check", type=Path, metavar="DOC", help="exit 1 if DOC's generated blocks are stale"
    )
    reference.set_defaults(handler=_reference)


def _reference(args: argparse.Namespace) -> int:
    if args.write is None and args.check is None:
        for name, body in generated_blocks().items():
            print(f"## {name}\n\n{body}")
        return 0
    doc: Path = args.write or args.check
    try:
        current = doc.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"{doc}: cannot be read ({exc.strerror})") from exc
    wanted = update(current)
    if args.check is not None:
        if wanted != current:
            print(f"{doc} is stale: run `interop config reference --write {doc}`", file=sys.stderr)
            return 1
        print(f"{doc} is current")
        return 0
    if wanted != current:
        doc.write_text(wanted, encoding="utf-8")
        print(f"{doc} updated")
    else:
        print(f"{doc} already current")
    return 0
