"""`interop dev` against a real broker: it starts Kafka and provisions the catalogue's topics."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bus.admin import TopicChange, TopicSpec, ensure_topics
from bus.settings import KafkaSettings
from bus.topics import parse_topic
from interop.cli import main
from interop.kafka_runner import KafkaRunner
from tests.integration.conftest import free_port


def test_dev_provisions_topics_and_a_second_run_reuses_everything(
    tmp_path: Path,
    kafka_runner_factory: Callable[[], KafkaRunner],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The first run creates the topics; the second reuses the broker and changes nothing."""
    runner = kafka_runner_factory()
    port = free_port()
    argv = ["dev", "--port", str(port), "--data-dir", str(runner.data_dir), "--exit-when-ready"]
    try:
        assert main(argv) == 0
        first = capsys.readouterr().out
        assert f"is up at 127.0.0.1:{port}" in first
        assert "+ interop.audit" in first
        assert "+ interop.req.tax.income-band.v1" in first
        assert "+ interop.dlq.register.residence-certificate.v2" in first
        assert "+ interop.rep.dev" in first

        assert main(argv) == 0
        second = capsys.readouterr().out
        assert "created" not in second
        assert second.count("unchanged") == first.count("created")

        # The broker really has them: re-ensuring one reports it unchanged, with the
        # partitions interop dev chose.
        settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
        status = runner.status()
        assert status is not None
        spec = TopicSpec(parse_topic("interop.req.tax.income-band.v1"), 3, 1)
        changes = asyncio.run(ensure_topics(settings, [spec]))
        assert changes == {"interop.req.tax.income-band.v1": TopicChange.UNCHANGED}
    finally:
        runner.stop()
