"""The Kafka ACLs derived from the catalogue, and the add/remove plan to reach them."""

from __future__ import annotations

from bus.acl_apply import (
    AclBinding,
    AclOperation,
    AclResource,
    PatternType,
    derive_acl_bindings,
    plan_acls,
)
from bus.ids import parse_gateway_group_id
from contracts import load_catalogue

_REGISTER_V1 = "interop.req.register.residence-certificate.v1"


def _bindings() -> list[AclBinding]:
    return derive_acl_bindings(
        load_catalogue(),
        gateway_identity="interop-gateway",
        gateway_groups=[parse_gateway_group_id("gw-a")],
    )


def _topic_ops(bindings: list[AclBinding], principal: str, topic: str) -> set[AclOperation]:
    return {
        b.operation
        for b in bindings
        if b.principal == principal and b.resource is AclResource.TOPIC and b.name == topic
    }


def test_tax_agency_gets_nothing_on_the_register_request_topic() -> None:
    """es.aeat (a provider of another service) has no binding on the register's request topic."""
    assert _topic_ops(_bindings(), "User:es.aeat", _REGISTER_V1) == set()


def test_provider_reads_its_requests_and_writes_only_replies_audit_and_its_dead_letters() -> None:
    """The register's connector reads its request topics and writes the allowed topics only."""
    bindings = _bindings()
    principal = "User:es.ine.padron"
    written = {
        b.name for b in bindings if b.principal == principal and b.operation is AclOperation.WRITE
    }
    assert written == {
        "interop.audit",
        "interop.rep.gw-a",
        "interop.dlq.register.residence-certificate.v1",
        "interop.dlq.register.residence-certificate.v2",
    }
    assert _topic_ops(bindings, principal, _REGISTER_V1) == {
        AclOperation.READ,
        AclOperation.DESCRIBE,
        AclOperation.DESCRIBE_CONFIGS,
    }
    groups = [b for b in bindings if b.principal == principal and b.resource is AclResource.GROUP]
    assert groups == [
        AclBinding(
            principal,
            AclResource.GROUP,
            "interop.connector.es.ine.padron.",
            PatternType.PREFIXED,
            AclOperation.READ,
        )
    ]


def test_gateway_writes_requests_and_audit_and_reads_its_replies() -> None:
    """The gateway writes every request topic and the audit topic and reads its reply topic."""
    bindings = _bindings()
    gateway = "User:interop-gateway"
    assert AclOperation.WRITE in _topic_ops(bindings, gateway, _REGISTER_V1)
    assert AclOperation.READ not in _topic_ops(bindings, gateway, _REGISTER_V1)
    assert AclOperation.READ in _topic_ops(bindings, gateway, "interop.rep.gw-a")
    assert {AclOperation.READ, AclOperation.WRITE} <= _topic_ops(bindings, gateway, "interop.audit")


def test_gateway_sets_refused_records_aside() -> None:
    """The gateway writes the audit quarantine (its indexer) and every dead-letter topic
    (replies that fail verification), and reads neither."""
    bindings = _bindings()
    gateway = "User:interop-gateway"
    for topic in ("interop.audit.quarantine", "interop.dlq.tax.income-band.v1"):
        assert _topic_ops(bindings, gateway, topic) == {
            AclOperation.WRITE,
            AclOperation.DESCRIBE,
            AclOperation.DESCRIBE_CONFIGS,
        }


def test_a_provider_missing_from_the_members_file_gets_nothing() -> None:
    """Only members the members file names as providers get rights: es.tgss left out of
    ``providers`` has no binding at all, the others keep theirs."""
    bindings = derive_acl_bindings(
        load_catalogue(),
        gateway_identity="interop-gateway",
        gateway_groups=[parse_gateway_group_id("gw-a")],
        providers={"es.ine.padron", "es.aeat"},
    )
    principals = {b.principal for b in bindings}
    assert "User:es.tgss" not in principals
    assert {"User:es.ine.padron", "User:es.aeat", "User:interop-gateway"} == principals


def test_a_deny_or_host_bound_binding_is_not_a_derived_one() -> None:
    """A DENY or a host-bound copy of a derived rule differs from it, so the plan removes
    it and adds the rule itself."""
    desired = _bindings()
    first = desired[0]
    deny = AclBinding(
        first.principal, first.resource, first.name, first.pattern, first.operation, False
    )
    bound = AclBinding(
        first.principal,
        first.resource,
        first.name,
        first.pattern,
        first.operation,
        True,
        "10.0.0.9",
    )
    plan = plan_acls(desired, [*desired[1:], deny, bound])
    assert plan.add == (first,)
    assert set(plan.remove) == {deny, bound}
    assert "DENY" in deny.describe()
    assert "from 10.0.0.9" in bound.describe()


def test_bindings_are_sorted_and_unique() -> None:
    """The derivation is deterministic, so plans and dry-runs are stable."""
    bindings = _bindings()
    assert bindings == sorted(set(bindings))


def test_plan_adds_missing_removes_extra_and_is_a_no_op_when_converged() -> None:
    """plan_acls adds what is missing, removes strays, and is empty once converged."""
    desired = _bindings()
    stray = AclBinding(
        "User:es.aeat", AclResource.TOPIC, _REGISTER_V1, PatternType.LITERAL, AclOperation.READ
    )
    plan = plan_acls(desired, [desired[0], stray])
    assert plan.add == tuple(desired[1:])
    assert plan.remove == (stray,)
    assert plan.changed
    assert not plan_acls(desired, desired).changed
