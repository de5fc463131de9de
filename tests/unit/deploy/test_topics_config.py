"""The topics config (``deploy/topics.yaml``) and the specs it makes for the catalogue."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bus.admin import TopicSpec
from bus.provisioning import (
    TopicsConfig,
    TopicsConfigError,
    deployment_topic_specs,
    load_topics_config,
)
from bus.topic_apply import TopicAction, TopicActionKind
from bus.topics import AUDIT_TOPIC, RequestTopic
from contracts import load_catalogue

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"


def _config(**changes: Any) -> dict[str, Any]:
    return {"gateway_groups": ["main"], **changes}


def test_the_shipped_configs_load() -> None:
    """Both shipped files are valid; production keeps three replicas and the audit forever."""
    production = load_topics_config(DEPLOY / "topics.yaml")
    assert production.request.replication_factor == 3
    assert production.audit.retention_ms == -1
    assert load_topics_config(DEPLOY / "topics.dev.yaml").audit.replication_factor == 1


def test_specs_cover_the_catalogue_with_overrides() -> None:
    """Audit first (fixed, one partition) and its quarantine topic, a reply topic per group,
    request and dead-letter topics per service major, the per-service override applied to
    that service only."""
    catalogue = load_catalogue()
    config = TopicsConfig.model_validate(
        _config(
            gateway_groups=["main", "backoffice"],
            services={"register.residence-certificate": {"partitions": 12}},
        )
    )
    specs = deployment_topic_specs(catalogue, config)
    by_name = {spec.topic.name: spec for spec in specs}
    majors = sum(len(s.majors()) for s in catalogue.services.values())
    assert len(specs) == 2 + 2 + 2 * majors
    assert by_name["interop.audit.quarantine"].partitions == 1
    assert specs[0].topic == AUDIT_TOPIC
    assert specs[0].fixed_partitions
    assert specs[0].partitions == 1
    assert specs[0].configs == {
        "retention.ms": "-1",
        "min.insync.replicas": "2",
        "message.timestamp.type": "LogAppendTime",  # the indexer checks keys against it
    }
    assert by_name["interop.rep.backoffice"].partitions == 12
    assert by_name["interop.req.register.residence-certificate.v2"].partitions == 12
    assert by_name["interop.req.tax.income-band.v1"].partitions == 6
    assert by_name["interop.dlq.tax.income-band.v1"].partitions == 1


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_config(audit={"partitions": 3}), "audit topic has exactly one partition"),
        (
            _config(audit={"configs": {"message.timestamp.type": "CreateTime"}}),
            "always LogAppendTime",
        ),
        (
            _config(request={"replication_factor": 1, "min_insync_replicas": 2}),
            "cannot exceed replication_factor",
        ),
        (_config(request={"configs": {"retention.ms": "1"}}), "with its own field"),
        (_config(reply={"retention_ms": 5}), "-1 \\(keep forever\\) or at least 60000"),
        (_config(gateway_groups=[]), "at least 1"),
        (_config(gateway_groups=["Bad Group"]), "gateway_groups"),
        (_config(services={"not-a-service-id": {}}), "services"),
        (_config(requests={}), "requests"),
    ],
)
def test_bad_configs_are_refused_with_the_reason(config: dict[str, Any], message: str) -> None:
    """Each mistake names the key and the rule."""
    with pytest.raises(ValidationError, match=message):
        TopicsConfig.model_validate(config)


def test_an_override_of_an_unknown_service_is_refused() -> None:
    """A typo in a service id would silently do nothing: it is an error instead."""
    config = TopicsConfig.model_validate(_config(services={"tax.income-bands": {"partitions": 2}}))
    with pytest.raises(TopicsConfigError, match=r"tax\.income-bands"):
        deployment_topic_specs(load_catalogue(), config)


def test_unreadable_and_non_yaml_files_are_one_line(tmp_path: Path) -> None:
    """A missing file and broken YAML are TopicsConfigErrors naming the file."""
    with pytest.raises(TopicsConfigError, match="cannot be read"):
        load_topics_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("gateway_groups: [main\n")
    with pytest.raises(TopicsConfigError, match="not valid YAML"):
        load_topics_config(broken)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("gateway_groups: [main]\naudit: {partitions: 2}\n")
    with pytest.raises(TopicsConfigError, match=r"audit: .*exactly one partition"):
        load_topics_config(wrong)


def test_actions_describe_what_changes() -> None:
    """An operator reads partitions and configs from -> to, and a creation's settings."""
    spec = TopicSpec(
        RequestTopic("tax.income-band", 1),  # type: ignore[arg-type]
        6,
        3,
        configs={"retention.ms": "86400000"},
    )
    update = TopicAction(
        spec,
        TopicActionKind.UPDATE,
        partitions_before=3,
        config_changes={"retention.ms": (None, "86400000")},
    )
    assert update.describe() == "partitions 3 -> 6, retention.ms (default) -> 86400000"
    create = TopicAction(spec, TopicActionKind.CREATE)
    assert create.describe() == "partitions=6 replication=3 retention.ms=86400000"
