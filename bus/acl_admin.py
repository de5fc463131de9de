"""The broker's ACLs read, added and removed: the Kafka side of ``interop acls apply``.

aiokafka has the wire classes of DescribeAcls, CreateAcls and DeleteAcls but no admin API
for them; this module sends them through its admin client and turns the answers into
``AclBinding``s and ``AclAdminError``s. It manages only the bus's own namespace: bindings on
topics and groups whose names start with ``interop.``. ACLs an operator keeps for other
tools (monitoring, other applications on the same cluster) are neither read nor removed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, TypeVar

from aiokafka.errors import KafkaError
from aiokafka.protocol.admin import CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest

from bus.acl_apply import AclBinding, AclOperation, AclPlan, AclResource, PatternType, plan_acls
from bus.admin import admin_client
from bus.errors import BusError
from bus.kafka_security import connection_failure_reason
from bus.settings import KafkaSettings

__all__ = [
    "ACL_MANAGED_PREFIX",
    "AclAdminError",
    "apply_acls",
    "create_acls",
    "delete_acls",
    "describe_acls",
]

_T = TypeVar("_T")

ACL_MANAGED_PREFIX: Final = "interop."
"""Resources whose ACLs ``interop acls apply`` owns."""

# Kafka's wire codes (org.apache.kafka.common.resource / acl enums).
_RESOURCE_ANY: Final = 1
_RESOURCE_CODES: Final = {AclResource.TOPIC: 2, AclResource.GROUP: 3}
_PATTERN_ANY: Final = 1
_PATTERN_CODES: Final = {PatternType.LITERAL: 3, PatternType.PREFIXED: 4}
_OPERATION_ANY: Final = 1
_OPERATION_CODES: Final = {
    AclOperation.ALL: 2,
    AclOperation.READ: 3,
    AclOperation.WRITE: 4,
    AclOperation.CREATE: 5,
    AclOperation.DELETE: 6,
    AclOperation.ALTER: 7,
    AclOperation.DESCRIBE: 8,
    AclOperation.DESCRIBE_CONFIGS: 10,
    AclOperation.ALTER_CONFIGS: 11,
}
_PERMISSION_ANY: Final = 1
_DENY: Final = 2
_ALLOW: Final = 3
_ERROR_TEXTS: Final = {
    31: "this Kafka identity may not manage ACLs (it needs ALTER on the cluster, or to be a "
    "super user)",
    54: "the broker has no authorizer configured (authorizer.class.name), so it keeps no ACLs",
}


class AclAdminError(BusError):
    """The broker refused to list, add or remove ACLs, or could not be reached."""

    code = "BUS_ACL_ADMIN"


async def describe_acls(settings: KafkaSettings) -> list[AclBinding]:
    """Every binding the broker holds on ``interop.*`` topics and groups, as ALLOW rules.

    Bindings interop-bus never writes (a DENY, a host other than ``*``, an operation it
    does not grant) are returned too, so that ``plan_acls`` removes them: nothing but the
    derived rules may hold on the bus's resources.
    """
    response = await _send(
        settings,
        [
            DescribeAclsRequest(
                _RESOURCE_ANY, None, _PATTERN_ANY, None, None, _OPERATION_ANY, _PERMISSION_ANY
            )
        ],
    )
    (answer,) = response
    _raise_for(answer.error_code, answer.error_message, "listing the ACLs")
    found: list[AclBinding] = []
    for resource_type, name, pattern_code, acls in answer.resources:
        resource = _decode(_RESOURCE_CODES, resource_type)
        pattern = _decode(_PATTERN_CODES, pattern_code)
        if resource is None or pattern is None or not name.startswith(ACL_MANAGED_PREFIX):
            continue
        for principal, host, operation_code, permission in acls:
            operation = _decode(_OPERATION_CODES, operation_code)
            if operation is None:  # an operation this version of Kafka added: leave it
                continue
            found.append(
                AclBinding(
                    principal, resource, name, pattern, operation, permission == _ALLOW, host
                )
            )
    return sorted(found)


async def apply_acls(
    settings: KafkaSettings, desired: Sequence[AclBinding], *, dry_run: bool = False
) -> AclPlan:
    """Make the broker hold exactly ``desired`` on ``interop.*``; return what changed
    (or, with ``dry_run``, what would). A second apply finds nothing to do."""
    plan = plan_acls(desired, await describe_acls(settings))
    if dry_run or not plan.changed:
        return plan
    if plan.add:
        await create_acls(settings, plan.add)
    if plan.remove:
        await delete_acls(settings, plan.remove)
    return plan


async def create_acls(settings: KafkaSettings, bindings: Sequence[AclBinding]) -> None:
    """Add ``bindings`` to the broker (an existing one is left as it is)."""
    for answer in await _send(settings, [_create(binding) for binding in bindings]):
        for error_code, error_message in answer.creation_responses:
            _raise_for(error_code, error_message, "adding ACLs")


async def delete_acls(settings: KafkaSettings, bindings: Sequence[AclBinding]) -> None:
    """Remove exactly ``bindings`` from the broker."""
    for answer in await _send(settings, [_delete(binding) for binding in bindings]):
        for error_code, error_message, _ in answer.filter_responses:
            _raise_for(error_code, error_message, "removing ACLs")


def _create(binding: AclBinding) -> CreateAclsRequest:
    return CreateAclsRequest(
        _RESOURCE_CODES[binding.resource],
        binding.name,
        _PATTERN_CODES[binding.pattern],
        binding.principal,
        binding.host,
        _OPERATION_CODES[binding.operation],
        _ALLOW if binding.allow else _DENY,
    )


def _delete(binding: AclBinding) -> DeleteAclsRequest:
    return DeleteAclsRequest(
        _RESOURCE_CODES[binding.resource],
        binding.name,
        _PATTERN_CODES[binding.pattern],
        binding.principal,
        binding.host,
        _OPERATION_CODES[binding.operation],
        _ALLOW if binding.allow else _DENY,
    )


async def _send(settings: KafkaSettings, requests: Iterable[Any]) -> list[Any]:
    client = admin_client(settings, client_id="interop-acls")
    try:
        await client.start()
        return [await client._send_request(request) for request in requests]
    except KafkaError as exc:
        reason = await connection_failure_reason(settings) or type(exc).__name__
        raise AclAdminError(
            f"the Kafka cluster at {settings.bootstrap_servers} did not answer: {reason}"
        ) from exc
    finally:
        await client.close()


def _raise_for(error_code: int, error_message: str | None, doing: str) -> None:
    if error_code == 0:
        return
    text = _ERROR_TEXTS.get(error_code) or error_message or f"Kafka error code {error_code}"
    raise AclAdminError(f"{doing} failed: {text}")


def _decode(codes: Mapping[_T, int], code: int) -> _T | None:
    for value, wire in codes.items():
        if wire == code:
            return value
    return None
