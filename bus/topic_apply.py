"""Reconcile the cluster's topics with a list of ``TopicSpec``s: plan first, then apply.

``ensure_topics`` (bus.admin) only creates and grows, for development. A deployment needs
more, and needs it said out loud: which topics are created, which grow, which configs
(retention, ``min.insync.replicas``) change, and what is refused. Nothing is changed
unless the whole plan is acceptable, so a refused topic cannot leave a half-applied
layout behind. Refused: fewer partitions than exist (Kafka cannot shrink a topic), any
partition change of a fixed topic (the audit topic), and a replication factor that differs
from the existing topic's (that is a partition reassignment, an operator's deliberate act).

Config changes keep every other dynamic config of the topic: Kafka's AlterConfigs
replaces a topic's whole dynamic set, so the set sent is the current one plus the changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus.admin import TopicSpec, admin_client
from bus.errors import BusError, TopicProvisioningError
from bus.kafka_errors import KAFKA_FAILURES, translate_kafka_error
from bus.kafka_security import connection_failure_reason
from bus.settings import KafkaSettings

__all__ = [
    "TopicAction",
    "TopicActionKind",
    "TopicChangeRefusedError",
    "TopicPlan",
    "apply_topics",
]

_UNKNOWN_TOPIC: Final = 3
_DYNAMIC_TOPIC_CONFIG: Final = 1


class TopicChangeRefusedError(TopicProvisioningError):
    """The cluster cannot be brought to the specs without a change that is refused."""

    code = "BUS_TOPIC_CHANGE_REFUSED"


class TopicActionKind(StrEnum):
    """What ``apply_topics`` does (or, in a dry run, would do) to one topic."""

    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class TopicAction:
    """One topic's part of the plan."""

    spec: TopicSpec
    kind: TopicActionKind
    partitions_before: int | None = None
    config_changes: Mapping[str, tuple[str | None, str]] = field(default_factory=dict)
    """Config name -> (current value or None, wanted value)."""

    @property
    def name(self) -> str:
        return self.spec.topic.name

    def describe(self) -> str:
        """One line for an operator: what changes, from what to what."""
        spec = self.spec
        if self.kind is TopicActionKind.CREATE:
            configs = " ".join(f"{k}={v}" for k, v in sorted((spec.configs or {}).items()))
            return (
                f"partitions={spec.partitions} replication={spec.replication_factor} {configs}"
            ).rstrip()
        parts: list[str] = []
        if self.partitions_before is not None and self.partitions_before != spec.partitions:
            parts.append(f"partitions {self.partitions_before} -> {spec.partitions}")
        parts += [
            f"{key} {before if before is not None else '(default)'} -> {after}"
            for key, (before, after) in sorted(self.config_changes.items())
        ]
        return ", ".join(parts) or "up to date"


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """Every topic's action, in the order of the specs."""

    actions: list[TopicAction]

    @property
    def changed(self) -> bool:
        return any(a.kind is not TopicActionKind.UNCHANGED for a in self.actions)

    def count(self, kind: TopicActionKind) -> int:
        return sum(1 for a in self.actions if a.kind is kind)


async def apply_topics(
    settings: KafkaSettings,
    specs: Sequence[TopicSpec],
    *,
    dry_run: bool = False,
    timeout_s: float = 60.0,
) -> TopicPlan:
    """Plan the changes that make the cluster match ``specs`` and, unless ``dry_run``, apply
    them. Idempotent: a second run plans nothing.

    Raises ``TopicChangeRefusedError`` listing every refused change (and changes nothing),
    ``TopicProvisioningError`` when Kafka rejects a change, and the translated
    ``BusError`` of any Kafka failure.
    """
    by_name = {spec.topic.name: spec for spec in specs}
    if len(by_name) != len(specs):
        raise ValueError("apply_topics: a topic is listed twice")
    client = admin_client(settings)
    try:
        async with asyncio.timeout(timeout_s):
            await client.start()
            plan = await _plan(client, specs)
            if not dry_run and plan.changed:
                await _apply(client, plan)
                await _wait_for_leaders(client, [a.name for a in plan.actions])
                await _wait_for_configs(client, plan)
    except BusError:
        raise
    except KAFKA_FAILURES as exc:
        reason = await connection_failure_reason(settings)
        operation = f"applying topics ({reason})" if reason else "applying topics"
        raise translate_kafka_error(exc, operation=operation) from exc
    except TimeoutError as exc:
        raise TopicProvisioningError(
            f"applying topics did not finish within {timeout_s:g}s"
        ) from exc
    finally:
        await client.close()
    return plan


async def _plan(client: AIOKafkaAdminClient, specs: Sequence[TopicSpec]) -> TopicPlan:
    described = await _describe_topics(client, [spec.topic.name for spec in specs])
    configs = await _dynamic_and_current_configs(client, list(described))
    actions: list[TopicAction] = []
    refusals: list[str] = []
    for spec in specs:
        name = spec.topic.name
        topic = described.get(name)
        if topic is None:
            actions.append(TopicAction(spec, TopicActionKind.CREATE))
            continue
        count = len(topic["partitions"])
        replication = min(len(p["replicas"]) for p in topic["partitions"])
        if spec.fixed_partitions and count != spec.partitions:
            refusals.append(
                f"{name} has {count} partitions and must have exactly {spec.partitions}: "
                "its partition count is fixed (the audit log needs one total order); "
                "it is never changed by topics apply"
            )
        elif count > spec.partitions:
            refusals.append(
                f"{name} has {count} partitions and the config says {spec.partitions}: "
                "Kafka cannot shrink a topic; raise the config to at least "
                f"{count} or recreate the topic"
            )
        if replication != spec.replication_factor:
            refusals.append(
                f"{name} has replication factor {replication} and the config says "
                f"{spec.replication_factor}: changing it is a partition reassignment "
                "(kafka-reassign-partitions), not something topics apply does"
            )
        current = configs[name][1]
        changes = {
            key: (current.get(key), wanted)
            for key, wanted in (spec.configs or {}).items()
            if current.get(key) != wanted
        }
        grows = count < spec.partitions
        kind = TopicActionKind.UPDATE if grows or changes else TopicActionKind.UNCHANGED
        actions.append(TopicAction(spec, kind, partitions_before=count, config_changes=changes))
    if refusals:
        raise TopicChangeRefusedError(
            f"{len(refusals)} change(s) refused, nothing applied:\n  - " + "\n  - ".join(refusals)
        )
    return TopicPlan(actions)


async def _apply(client: AIOKafkaAdminClient, plan: TopicPlan) -> None:
    creates = [a.spec for a in plan.actions if a.kind is TopicActionKind.CREATE]
    if creates:
        response = await client.create_topics(
            [
                NewTopic(
                    spec.topic.name,
                    spec.partitions,
                    spec.replication_factor,
                    topic_configs=dict(spec.configs or {}),
                )
                for spec in creates
            ]
        )
        _raise_errors(
            "creating",
            [(e["topic"], e["error_code"], e["error_message"]) for e in _topic_errors(response)],
        )
    updates = [a for a in plan.actions if a.kind is TopicActionKind.UPDATE]
    grow = {
        a.name: NewPartitions(a.spec.partitions)
        for a in updates
        if a.partitions_before is not None and a.partitions_before < a.spec.partitions
    }
    if grow:
        response = await client.create_partitions(grow)
        _raise_errors(
            "adding partitions to",
            [(e["topic"], e["error_code"], e["error_message"]) for e in _topic_errors(response)],
        )
    reconfigure = [a for a in updates if a.config_changes]
    if reconfigure:
        dynamic = await _dynamic_and_current_configs(client, [a.name for a in reconfigure])
        resources = [
            ConfigResource(
                ConfigResourceType.TOPIC,
                a.name,
                {**dynamic[a.name][0], **{k: after for k, (_, after) in a.config_changes.items()}},
            )
            for a in reconfigure
        ]
        for response in await client.alter_configs(resources):
            _raise_errors(
                "changing the configs of",
                [
                    (r["resource_name"], r["error_code"], r["error_message"])
                    for r in response.to_object()["resources"]
                ],
            )


def _topic_errors(response: Any) -> list[dict[str, Any]]:
    obj = response.to_object()
    errors: list[dict[str, Any]] = obj.get("topic_errors") or obj.get("topic_results") or []
    return errors


def _raise_errors(what: str, results: list[tuple[str, int, str | None]]) -> None:
    failed = [f"{name}: {message or f'error {code}'}" for name, code, message in results if code]
    if failed:
        raise TopicProvisioningError(f"{what} topics failed: " + "; ".join(failed))


async def _describe_topics(
    client: AIOKafkaAdminClient, names: list[str]
) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for topic in await client.describe_topics(names):
        if topic["error_code"] == _UNKNOWN_TOPIC:
            continue
        if topic["error_code"] != 0:
            raise TopicProvisioningError(
                f"describing {topic['topic']} failed with error {topic['error_code']}"
            )
        found[topic["topic"]] = topic
    return found


async def _dynamic_and_current_configs(
    client: AIOKafkaAdminClient, names: list[str]
) -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """Per topic: (its dynamic configs, every current config value)."""
    if not names:
        return {}
    result: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    responses = await client.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    )
    for response in responses:
        for resource in response.to_object()["resources"]:
            if resource["error_code"]:
                raise TopicProvisioningError(
                    f"describing the configs of {resource['resource_name']} failed: "
                    f"{resource['error_message'] or resource['error_code']}"
                )
            dynamic: dict[str, str] = {}
            current: dict[str, str] = {}
            for entry in resource["config_entries"]:
                name, value = entry["config_names"], entry["config_value"]
                if value is None:
                    continue
                current[name] = value
                if entry.get("config_source") == _DYNAMIC_TOPIC_CONFIG:
                    dynamic[name] = value
            result[resource["resource_name"]] = (dynamic, current)
    return result


async def _wait_for_configs(client: AIOKafkaAdminClient, plan: TopicPlan) -> None:
    # KRaft brokers apply config changes from the metadata log a moment after the
    # controller accepts them; return only once they answer with the new values, so the
    # next run (or a check right after) sees what this one did (bounded by the timeout).
    wanted = {a.name: dict(a.spec.configs or {}) for a in plan.actions if a.config_changes}
    while wanted:
        current = await _dynamic_and_current_configs(client, list(wanted))
        wanted = {
            name: configs
            for name, configs in wanted.items()
            if any(current[name][1].get(key) != value for key, value in configs.items())
        }
        if wanted:
            await asyncio.sleep(0.05)


async def _wait_for_leaders(client: AIOKafkaAdminClient, names: list[str]) -> None:
    # The controller answers before every broker serves new partitions; producers that
    # start right after topics apply must find leaders (bounded by apply's timeout).
    while True:
        described = await client.describe_topics(names)
        if all(
            t["error_code"] == 0
            and t["partitions"]
            and all(p["error_code"] == 0 and p["leader"] >= 0 for p in t["partitions"])
            for t in described
        ):
            return
        await asyncio.sleep(0.05)
