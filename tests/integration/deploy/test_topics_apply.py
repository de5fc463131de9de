"""``interop topics apply`` against the real broker: create, idempotence, growth, refusals.

Each test copies one service of the demo catalogue under a unique domain and uses a
unique gateway group, so its request, dead-letter and reply topics are its own. The audit
topic is the one fixed name: these tests keep it at the single-broker layout (one
partition, one replica), which is what every user of the shared broker expects.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from bus import KafkaSettings, RequestTopic, TopicSpec, parse_service_id
from bus.admin import admin_client
from bus.topic_apply import TopicActionKind, TopicChangeRefusedError, apply_topics
from contracts.catalogue import DEFAULT_CATALOGUE_DIR
from devservers.kafka import KafkaRunner
from interop.cli import main
from tests.integration.conftest import free_port

DAY_MS = 86_400_000


class Deployment:
    """A private catalogue (one service under a unique domain) and a topics config."""

    def __init__(self, folder: Path, bootstrap: str, gateway_group: str) -> None:
        self.domain = "t" + uuid.uuid4().hex[:12]
        self.catalogue = folder / "services"
        shutil.copytree(
            DEFAULT_CATALOGUE_DIR / "tax" / "income-band",
            self.catalogue / self.domain / "income-band",
        )
        self.service = f"{self.domain}.income-band"
        self.bootstrap = bootstrap
        self.gateway_group = gateway_group
        self.config_file = folder / "topics.yaml"
        self.config: dict[str, object] = {
            "gateway_groups": [gateway_group],
            "request": {"partitions": 2, "replication_factor": 1, "min_insync_replicas": 1},
            "reply": {"partitions": 3, "replication_factor": 1, "min_insync_replicas": 1},
            "dead_letter": {"partitions": 1, "replication_factor": 1, "min_insync_replicas": 1},
            "audit": {"replication_factor": 1, "min_insync_replicas": 1},
        }

    @property
    def request_topic(self) -> str:
        return f"interop.req.{self.service}.v1"

    def set(self, kind: str, **values: object) -> None:
        section = self.config[kind]
        assert isinstance(section, dict)
        section.update(values)

    async def apply(self, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
        """Run the real command line (in a thread: it runs its own event loop); return
        (exit code, stdout, stderr)."""
        self.config_file.write_text(yaml.safe_dump(self.config))
        capsys.readouterr()
        code = await asyncio.to_thread(
            main,
            [
                "topics",
                "apply",
                "--config",
                str(self.config_file),
                "--catalogue",
                str(self.catalogue),
                "--bootstrap",
                self.bootstrap,
                *extra,
            ],
        )
        out = capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def deployment(
    tmp_path: Path, kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> Deployment:
    return Deployment(tmp_path, kafka_bootstrap, unique_name("gw"))


async def _describe(bootstrap: str, topic: str) -> tuple[int, dict[str, str]]:
    """(partition count, current configs) of ``topic``."""
    client = admin_client(KafkaSettings(bootstrap_servers=bootstrap))
    await client.start()
    try:
        (described,) = await client.describe_topics([topic])
        (response,) = await client.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic)]
        )
    finally:
        await client.close()
    (resource,) = response.to_object()["resources"]
    configs = {e["config_names"]: e["config_value"] for e in resource["config_entries"]}
    return len(described["partitions"]), configs


async def _config_shows(bootstrap: str, topic: str, name: str, value: str) -> None:
    """Until ``topic``'s config ``name`` reads ``value``: the broker applies a config
    change a moment after accepting it."""
    deadline = time.monotonic() + 30
    while (await _describe(bootstrap, topic))[1].get(name) != value:
        assert time.monotonic() < deadline, f"{topic}'s {name} never became {value}"
        await asyncio.sleep(0.05)


async def _set_by_hand(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    """``topic``'s dynamic configs replaced by ``configs`` (an operator's hand), once the
    broker shows them."""
    client = admin_client(KafkaSettings(bootstrap_servers=bootstrap))
    await client.start()
    try:
        await client.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs)])
    finally:
        await client.close()
    for name, value in configs.items():
        await _config_shows(bootstrap, topic, name, value)


async def test_first_apply_creates_every_topic_and_the_second_changes_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """The catalogue's topics appear with the config's partitions and configs; idempotent."""
    code, out, err = await deployment.apply(capsys)
    assert (code, err) == (0, "")
    for topic in (
        deployment.request_topic,
        f"interop.dlq.{deployment.service}.v1",
        f"interop.rep.{deployment.gateway_group}",
    ):
        assert f"+ {topic}" in out
    partitions, configs = await _describe(deployment.bootstrap, deployment.request_topic)
    assert partitions == 2
    assert configs["retention.ms"] == "604800000"
    assert configs["min.insync.replicas"] == "1"
    reply_partitions, _ = await _describe(
        deployment.bootstrap, f"interop.rep.{deployment.gateway_group}"
    )
    assert reply_partitions == 3

    code, out, _ = await deployment.apply(capsys)
    assert code == 0
    assert out.startswith("no changes:"), out


async def test_apply_grows_partitions_and_changes_retention_keeping_other_configs(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """More partitions and a new retention are applied in place and printed from -> to; a
    config set by hand (not in the topics config) survives the change."""
    assert (await deployment.apply(capsys))[0] == 0
    await _set_by_hand(
        deployment.bootstrap,
        deployment.request_topic,
        {"retention.ms": "604800000", "min.insync.replicas": "1", "max.message.bytes": "2000000"},
    )
    deployment.set("request", partitions=5, retention_ms=2 * DAY_MS)

    code, out, err = await deployment.apply(capsys)

    assert (code, err) == (0, "")
    line = next(x for x in out.splitlines() if deployment.request_topic in x)
    assert line.lstrip().startswith("~")
    assert "partitions 2 -> 5" in line
    assert f"retention.ms 604800000 -> {2 * DAY_MS}" in line
    partitions, configs = await _describe(deployment.bootstrap, deployment.request_topic)
    assert partitions == 5
    assert configs["retention.ms"] == str(2 * DAY_MS)
    assert configs["max.message.bytes"] == "2000000"
    assert (await deployment.apply(capsys))[1].startswith("no changes:")


async def test_an_audit_topic_keeping_producer_time_is_switched_to_the_brokers(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """The audit topic keeps the broker's append time, which the indexer checks signing
    keys against. One made before that (CreateTime) is changed in place; a record written
    after carries the broker's time whatever time its producer set."""
    assert (await deployment.apply(capsys))[0] == 0
    assert (await _describe(deployment.bootstrap, "interop.audit"))[1][
        "message.timestamp.type"
    ] == "LogAppendTime"
    await _set_by_hand(
        deployment.bootstrap,
        "interop.audit",
        {"retention.ms": "-1", "min.insync.replicas": "1", "message.timestamp.type": "CreateTime"},
    )

    code, out, err = await deployment.apply(capsys)

    assert (code, err) == (0, "")
    line = next(x for x in out.splitlines() if "interop.audit " in x + " ")
    assert "message.timestamp.type CreateTime -> LogAppendTime" in line, out
    await _config_shows(
        deployment.bootstrap, "interop.audit", "message.timestamp.type", "LogAppendTime"
    )
    producer = AIOKafkaProducer(bootstrap_servers=deployment.bootstrap)
    await producer.start()
    try:  # a producer that claims its record was written in 1970
        sent = await producer.send_and_wait("interop.audit", b"x", timestamp_ms=1000)
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=deployment.bootstrap, group_id=None)
    await consumer.start()
    try:
        where = TopicPartition("interop.audit", sent.partition)
        consumer.assign([where])
        consumer.seek(where, sent.offset)
        record = await asyncio.wait_for(consumer.getone(), timeout=20)
    finally:
        await consumer.stop()
    assert record.timestamp_type == 1
    assert abs(record.timestamp / 1000 - time.time()) < 300  # the broker's clock, not 1970


async def test_dry_run_prints_the_plan_and_changes_nothing(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--dry-run`` says what it would create and the topics still do not exist."""
    code, out, _ = await deployment.apply(capsys, "--dry-run")
    assert code == 0
    assert f"+ {deployment.request_topic}" in out
    assert "would create" in out
    assert "dry run, nothing changed" in out
    client = admin_client(KafkaSettings(bootstrap_servers=deployment.bootstrap))
    await client.start()
    try:
        topics = await client.list_topics()
    finally:
        await client.close()
    assert deployment.request_topic not in topics


async def test_shrinking_partitions_is_refused_and_nothing_is_applied(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fewer partitions than exist: exit 1, a sentence saying why, and the retention change
    asked for in the same run is not applied either."""
    assert (await deployment.apply(capsys))[0] == 0
    deployment.set("request", partitions=1, retention_ms=3 * DAY_MS)

    code, out, err = await deployment.apply(capsys)

    assert code == 1
    assert out == ""
    assert "[BUS_TOPIC_CHANGE_REFUSED]" in err
    assert f"{deployment.request_topic} has 2 partitions" in err
    assert "cannot shrink" in err
    partitions, configs = await _describe(deployment.bootstrap, deployment.request_topic)
    assert partitions == 2
    assert configs["retention.ms"] == "604800000"


async def test_a_fixed_partition_count_is_never_changed(
    kafka_bootstrap: str, unique_name: Callable[[str], str]
) -> None:
    """A fixed topic (the audit topic's rule) is not grown either: growing is refused."""
    topic = RequestTopic(parse_service_id(f"fx.{unique_name('svc')}"), 1)
    settings = KafkaSettings(bootstrap_servers=kafka_bootstrap)
    plan = await apply_topics(settings, [TopicSpec(topic, 1, 1, fixed_partitions=True)])
    assert [a.kind for a in plan.actions] == [TopicActionKind.CREATE]
    with pytest.raises(TopicChangeRefusedError, match="partition count is fixed"):
        await apply_topics(settings, [TopicSpec(topic, 2, 1, fixed_partitions=True)])


async def test_a_different_replication_factor_is_refused(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replication cannot be changed by apply (it is a reassignment): refused, exit 1."""
    assert (await deployment.apply(capsys))[0] == 0
    deployment.set("dead_letter", replication_factor=3, min_insync_replicas=2)
    code, _, err = await deployment.apply(capsys)
    assert code == 1
    assert "replication factor 1 and the config says 3" in err


async def test_audit_partitions_in_the_config_are_refused(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    """``audit.partitions: 4`` is a config error naming the rule, before any connection."""
    deployment.set("audit", partitions=4)
    code, out, err = await deployment.apply(capsys)
    assert (code, out) == (1, "")
    assert "[BUS_TOPICS_CONFIG_INVALID]" in err
    assert "audit topic has exactly one partition" in err


async def test_an_audit_topic_with_more_partitions_is_refused_on_a_private_broker(
    tmp_path: Path,
    kafka_runner_factory: Callable[[], KafkaRunner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The real ``interop.audit`` with 2 partitions (made by hand, on a broker of this test
    alone) is refused by name and left as it is, and nothing else is created."""
    runner = kafka_runner_factory()
    broker = await asyncio.to_thread(runner.start, port=free_port(), controller_port=free_port())
    try:
        settings = KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        client = admin_client(settings)
        await client.start()
        try:
            await client.create_topics([NewTopic("interop.audit", 2, 1)])
        finally:
            await client.close()
        deployment = Deployment(tmp_path, broker.bootstrap_servers, "main")

        code, out, err = await deployment.apply(capsys)

        assert (code, out) == (1, "")
        assert "interop.audit has 2 partitions and must have exactly 1" in err
        assert "partition count is fixed" in err
        client = admin_client(settings)
        await client.start()
        try:
            (audit,) = await client.describe_topics(["interop.audit"])
            topics = await client.list_topics()
        finally:
            await client.close()
        assert len(audit["partitions"]) == 2
        assert deployment.request_topic not in topics
    finally:
        await asyncio.to_thread(runner.stop)
