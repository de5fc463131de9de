"""``interop topics apply``: make the cluster's topics match the catalogue and topics config.

Kafka client settings (bootstrap, TLS, SASL) come from ``--settings FILE`` (its ``kafka:``
section; the gateway's or a connector's file will do) and ``INTEROP__KAFKA__...``
environment variables, like every other ``interop`` process; ``--bootstrap`` overrides
the bootstrap servers. Exit codes: 0 applied or nothing to do, 1 refused or failed.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

import pydantic

from bus import (
    KafkaSettings,
    TopicActionKind,
    TopicPlan,
    apply_topics,
    deployment_topic_specs,
    load_topics_config,
)
from contracts.catalogue import DEFAULT_CATALOGUE_DIR, load_catalogue
from interop.settings import SettingsError, load_settings

__all__ = ["DEFAULT_TOPICS_CONFIG", "add_apply_arguments", "load_kafka_settings", "register"]

DEFAULT_TOPICS_CONFIG = Path("deploy/topics.yaml")
_MARKERS = {
    TopicActionKind.CREATE: "+",
    TopicActionKind.UPDATE: "~",
    TopicActionKind.UNCHANGED: " ",
}


def load_kafka_settings(settings_file: Path | None, *, bootstrap: str | None) -> KafkaSettings:
    """The ``kafka`` section of the settings (file and environment), ``bootstrap``
    overriding; the file's other sections (the gateway's...) are not read."""
    kafka = load_settings(settings_file, only="kafka").kafka
    if bootstrap is None:
        return kafka
    try:
        return KafkaSettings.model_validate({**kafka.model_dump(), "bootstrap_servers": bootstrap})
    except pydantic.ValidationError as exc:
        raise SettingsError(f"--bootstrap {bootstrap!r}: invalid Kafka settings") from exc


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add the ``topics`` command group."""
    topics = subparsers.add_parser("topics", help="provision the bus's Kafka topics")
    commands = topics.add_subparsers(dest="topics_command", metavar="ACTION", required=True)
    apply = commands.add_parser(
        "apply",
        help="create or update the catalogue's topics as the topics config says (idempotent)",
    )
    apply.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_TOPICS_CONFIG,
        help=f"topics config: partitions, replication, retention (default {DEFAULT_TOPICS_CONFIG})",
    )
    apply.add_argument(
        "--catalogue",
        type=Path,
        default=DEFAULT_CATALOGUE_DIR,
        help="contracts catalogue whose services need topics (default: the bundled one)",
    )
    add_apply_arguments(apply)
    apply.set_defaults(handler=_apply)


def add_apply_arguments(parser: argparse.ArgumentParser) -> None:
    """``--settings``, ``--bootstrap`` and ``--dry-run``, as every ``... apply`` takes them
    (``interop topics apply``, ``interop acls apply``)."""
    parser.add_argument(
        "--settings",
        type=Path,
        default=None,
        help="YAML settings file whose kafka: section to use (INTEROP__KAFKA__... override it)",
    )
    parser.add_argument(
        "--bootstrap", default=None, help="Kafka bootstrap servers host:port[,host:port]"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print what would change and change nothing"
    )


def _apply(args: argparse.Namespace) -> int:
    kafka = load_kafka_settings(args.settings, bootstrap=args.bootstrap)
    config = load_topics_config(args.config)
    catalogue = load_catalogue(args.catalogue)
    specs = deployment_topic_specs(catalogue, config)
    plan = asyncio.run(apply_topics(kafka, specs, dry_run=args.dry_run))
    _print_plan(plan, dry_run=args.dry_run, bootstrap=kafka.bootstrap_servers)
    return 0


def _print_plan(plan: TopicPlan, *, dry_run: bool, bootstrap: str) -> None:
    if not plan.changed:
        print(f"no changes: {len(plan.actions)} topic(s) at {bootstrap} match the config")
        return
    verb = "would change" if dry_run else "changed"
    print(f"Topics at {bootstrap} ({verb}):")
    width = max(len(action.name) for action in plan.actions)
    for action in plan.actions:
        if action.kind is TopicActionKind.UNCHANGED:
            continue
        kind = f"would {action.kind.value}" if dry_run else f"{action.kind.value}d"
        print(f"  {_MARKERS[action.kind]} {action.name:<{width}}  {kind:<14} {action.describe()}")
    created = plan.count(TopicActionKind.CREATE)
    updated = plan.count(TopicActionKind.UPDATE)
    unchanged = plan.count(TopicActionKind.UNCHANGED)
    summary = f"{created} created, {updated} updated, {unchanged} unchanged"
    print(f"dry run, nothing changed: {summary}" if dry_run else summary)
