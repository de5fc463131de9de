"""One Kafka identity per member, enforced by a real broker with the authorizer on.

The module starts its own broker the way ``interop dev`` does by default (SASL/SCRAM on
the client listener, SASL/PLAIN between controllers, KRaft's StandardAuthorizer, no
anonymous access), provisions the catalogue's topics as the administrator and writes the
ACLs with the real ``interop acls apply`` command. Then each member's identity is tried on
what it may and may not do. The broker is the module's own, so the catalogue's fixed topic
names (``interop.req.tax.income-band.v1``...) cannot collide with other tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from bus import (
    BrokerUnavailableError,
    KafkaSettings,
    TopicProvisioningError,
    catalogue_topic_specs,
    ensure_topics,
    kafka_client_security,
    parse_gateway_group_id,
    probe_cluster,
)
from bus.acl_admin import AclAdminError, create_acls, describe_acls
from bus.acl_apply import AclBinding, AclOperation, AclResource, PatternType
from contracts.catalogue import load_catalogue
from devservers.broker_auth import BrokerAuth, new_password
from devservers.kafka import KafkaRunner
from tests.integration.conftest import free_port

_GATEWAY = "interop-gateway"
_TAX = "es.aeat"
_REGISTER = "es.ine.padron"
_SOCIAL = "es.tgss"
_REGISTER_REQUESTS = "interop.req.register.residence-certificate.v1"
_TAX_REQUESTS = "interop.req.tax.income-band.v1"
_REPLIES = "interop.rep.dev"
_AUDIT = "interop.audit"
_PROVIDERS = (_REGISTER, _TAX, _SOCIAL)


@dataclass(frozen=True)
class SecureBroker:
    """The module's broker and the logins it was formatted with."""

    bootstrap: str
    auth: BrokerAuth
    members_file: Path
    broker_log: Path

    def login(self, user: str) -> KafkaSettings:
        return self.auth.client_settings(self.bootstrap, user, request_timeout_ms=5000)

    @property
    def admin(self) -> KafkaSettings:
        return self.auth.admin_settings(self.bootstrap, request_timeout_ms=5000)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    """A broker with SCRAM users for the gateway and the three demo providers, the
    catalogue's topics, and a members file naming the providers."""
    root = tmp_path_factory.mktemp("secure-kafka")
    auth = BrokerAuth(
        broker_password=new_password(),
        admin_user="interop-admin",
        admin_password=new_password(),
        users={user: new_password() for user in (_GATEWAY, *_PROVIDERS)},
    )
    runner = KafkaRunner(root / "data", auth=auth)
    broker = runner.start(port=free_port(), controller_port=free_port())
    members = root / "members.yaml"
    members.write_text(
        yaml.safe_dump(
            {
                "members": [
                    {"id": member, "name": member, "roles": ["provider"]} for member in _PROVIDERS
                ]
            }
        )
    )
    secure = SecureBroker(broker.bootstrap_servers, auth, members, runner.broker_log)
    try:
        specs = catalogue_topic_specs(
            load_catalogue(),
            gateway_groups=[parse_gateway_group_id("dev")],
            request_partitions=1,
            reply_partitions=1,
            replication_factor=1,
        )
        asyncio.run(ensure_topics(secure.admin, specs))
        yield secure
    finally:
        runner.stop()


def _acls_apply(broker: SecureBroker, *extra: str, user: str | None = None) -> str:
    """``interop acls apply`` as an operator runs it (logins from the environment)."""
    settings = broker.admin if user is None else broker.login(user)
    password = settings.sasl_password
    assert password is not None
    env = {
        **os.environ,
        "INTEROP__KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "INTEROP__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "INTEROP__KAFKA__SASL_USERNAME": str(settings.sasl_username),
        "INTEROP__KAFKA__SASL_PASSWORD": password.get_secret_value(),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "interop",
            "acls",
            "apply",
            "--members",
            str(broker.members_file),
            "--bootstrap",
            broker.bootstrap,
            *extra,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    if user is None:
        assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def acls_applied(secure_broker: SecureBroker) -> SecureBroker:
    """The derived ACLs, written by ``interop acls apply``."""
    _acls_apply(secure_broker)
    return secure_broker


def _producer(settings: KafkaSettings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        request_timeout_ms=5000,
        enable_idempotence=True,
        acks="all",
        **kafka_client_security(settings),
    )


async def _write(settings: KafkaSettings, topic: str, value: bytes) -> None:
    producer = _producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, partition=0)
    finally:
        await producer.stop()


async def _read_all(
    settings: KafkaSettings, topic: str, *, group: str | None = None
) -> list[bytes]:
    """Every record of partition 0 of ``topic``, as ``settings``' user (8 s at most).

    Reads from offset 0 with plain fetches, no offset lookup: a refused fetch raises
    ``TopicAuthorizationFailedError`` at once, where a refused ListOffsets is retried by
    aiokafka until its timeout.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        request_timeout_ms=5000,
        **kafka_client_security(settings),
    )
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        values: list[bytes] = []
        async with asyncio.timeout(8):
            while True:
                batch = await consumer.getmany(partition, timeout_ms=300)
                records = batch.get(partition, [])
                if not records:
                    break  # caught up (the writes this test waits on were acknowledged)
                values += [record.value or b"" for record in records]
        if group is not None:
            await consumer.commit()
        return values
    finally:
        await consumer.stop()


async def _assert_read_refused(broker: SecureBroker, user: str, topic: str) -> None:
    """``user`` reads nothing from ``topic`` although it holds records, and the broker's
    authorizer logged the refusal. With DESCRIBE but not READ the fetch is refused and
    aiokafka raises; without DESCRIBE it gets no metadata, so no leader to fetch from,
    and returns nothing: the broker's log is the proof either way."""
    await _write(broker.admin, topic, b"a record the refused reader must not see")
    with contextlib.suppress(TopicAuthorizationFailedError):
        assert await _read_all(broker.login(user), topic) == []
    denial = f"Principal = User:{user} is Denied operation = "
    resource = f"on resource = Topic:LITERAL:{topic} "
    deadline = time.monotonic() + 10  # the broker's log is written asynchronously
    while time.monotonic() < deadline:
        log = broker.broker_log.read_text(errors="replace").splitlines()
        if any(denial in line and resource in line for line in log):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"the broker logged no refusal of {user} on {topic}")


async def test_acls_apply_is_idempotent_and_a_dry_run_changes_nothing(
    secure_broker: SecureBroker,
) -> None:
    """A dry run on a fresh broker lists every rule and writes none; the apply writes them;
    a second apply and a second dry run find nothing to do."""
    assert await describe_acls(secure_broker.admin) == []
    planned = _acls_apply(secure_broker, "--dry-run")
    assert "dry run, nothing changed" in planned
    assert f"+ User:{_TAX} read topic {_TAX_REQUESTS}" in planned
    assert await describe_acls(secure_broker.admin) == []
    applied = _acls_apply(secure_broker)
    assert "0 removed" in applied
    held = await describe_acls(secure_broker.admin)
    assert (
        AclBinding(
            f"User:{_TAX}", AclResource.TOPIC, _TAX_REQUESTS, PatternType.LITERAL, AclOperation.READ
        )
        in held
    )
    assert "no changes" in _acls_apply(secure_broker)
    assert "no changes" in _acls_apply(secure_broker, "--dry-run")
    assert await describe_acls(secure_broker.admin) == held


async def test_a_stray_grant_on_the_bus_is_removed_and_other_resources_are_left_alone(
    acls_applied: SecureBroker,
) -> None:
    """Someone grants the tax agency READ on the register's requests, and an operator keeps
    a rule for another application's topic: the next apply removes the first, keeps the
    second (it owns only ``interop.*``), and the tax agency is refused again."""
    stray = AclBinding(
        f"User:{_TAX}",
        AclResource.TOPIC,
        _REGISTER_REQUESTS,
        PatternType.LITERAL,
        AclOperation.READ,
    )
    other = AclBinding(
        f"User:{_TAX}",
        AclResource.TOPIC,
        "billing.invoices",
        PatternType.LITERAL,
        AclOperation.READ,
    )
    await create_acls(acls_applied.admin, [stray, other])
    assert stray in await describe_acls(acls_applied.admin)
    output = _acls_apply(acls_applied)
    assert f"- User:{_TAX} read topic {_REGISTER_REQUESTS}" in output
    assert stray not in await describe_acls(acls_applied.admin)
    assert "billing.invoices" not in output
    await _assert_read_refused(acls_applied, _TAX, _REGISTER_REQUESTS)


async def test_the_tax_agency_cannot_read_or_write_the_registers_request_topic(
    acls_applied: SecureBroker,
) -> None:
    """The gateway writes a request for the municipal register; the register's connector
    reads it; the tax agency's identity is refused both reading and writing that topic."""
    marker = f"request-{uuid.uuid4()}".encode()
    await _write(acls_applied.login(_GATEWAY), _REGISTER_REQUESTS, marker)
    assert marker in await _read_all(acls_applied.login(_REGISTER), _REGISTER_REQUESTS)
    await _assert_read_refused(acls_applied, _TAX, _REGISTER_REQUESTS)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(acls_applied.login(_TAX), _REGISTER_REQUESTS, b"forged request")
    # Nothing the tax agency tried reached the topic.
    assert b"forged request" not in await _read_all(
        acls_applied.login(_REGISTER), _REGISTER_REQUESTS
    )


async def test_a_provider_writes_replies_and_audit_but_reads_neither(
    acls_applied: SecureBroker,
) -> None:
    """The tax agency's connector may write a reply and an audit event (signatures, not
    ACLs, say whose they are) but may not read the reply topic or the audit log, nor write
    request topics at all, not even its own."""
    tax = acls_applied.login(_TAX)
    await _write(tax, _REPLIES, b"reply")
    await _write(tax, _AUDIT, b"audit event")
    for topic in (_REPLIES, _AUDIT):
        await _assert_read_refused(acls_applied, _TAX, topic)
    with pytest.raises(TopicAuthorizationFailedError):
        await _write(tax, _TAX_REQUESTS, b"self-made request")


async def test_a_provider_commits_offsets_only_in_its_own_groups(
    acls_applied: SecureBroker,
) -> None:
    """The register's connector commits in ``interop.connector.es.ine.padron.*``; the tax
    agency's identity cannot use that group (it could otherwise skip the register's work)."""
    group = f"interop.connector.{_REGISTER}.residence-certificate.v1"
    await _write(acls_applied.login(_GATEWAY), _REGISTER_REQUESTS, b"for the group")
    assert b"for the group" in await _read_all(
        acls_applied.login(_REGISTER), _REGISTER_REQUESTS, group=group
    )
    with pytest.raises((GroupAuthorizationFailedError, TopicAuthorizationFailedError)):
        await _read_all(acls_applied.login(_TAX), _TAX_REQUESTS, group=group)


async def test_the_gateway_cannot_read_requests_it_wrote(acls_applied: SecureBroker) -> None:
    """The gateway writes request topics but may not read them back (only the provider's
    connector holds the key to their personal fields, and only it consumes them)."""
    await _assert_read_refused(acls_applied, _GATEWAY, _TAX_REQUESTS)


async def test_an_unauthenticated_or_wrong_password_client_is_refused(
    acls_applied: SecureBroker,
) -> None:
    """A plaintext client without a login gets no metadata at all; a known user with a
    wrong password is refused, with the reason said."""
    with pytest.raises(BrokerUnavailableError):
        await probe_cluster(acls_applied.bootstrap, timeout_s=3.0)
    wrong = acls_applied.login(_TAX).model_copy(
        update={"sasl_password": SecretStr("not-the-password")}
    )
    with pytest.raises(BrokerUnavailableError, match=re.escape("SASL login as 'es.aeat'")):
        await probe_cluster(wrong, timeout_s=3.0)
    info = await probe_cluster(acls_applied.login(_TAX), timeout_s=5.0)
    assert info.broker_count == 1


async def test_only_the_administrator_may_change_acls(acls_applied: SecureBroker) -> None:
    """A member's identity cannot list or grant ACLs (it could otherwise grant itself the
    register's requests); the command says why and exits 1."""
    output = _acls_apply(acls_applied, user=_TAX)
    assert "may not manage ACLs" in output
    with pytest.raises(AclAdminError, match="may not manage ACLs"):
        await describe_acls(acls_applied.login(_TAX))


async def test_a_member_cannot_create_or_delete_topics(acls_applied: SecureBroker) -> None:
    """Topic provisioning is the administrator's: a connector's identity cannot add a
    topic on the bus (nor would auto-creation help: it is off)."""
    specs = catalogue_topic_specs(
        load_catalogue(),
        gateway_groups=[parse_gateway_group_id(f"rogue{uuid.uuid4().hex[:6]}")],
        request_partitions=1,
        reply_partitions=1,
        replication_factor=1,
    )
    with pytest.raises((TopicProvisioningError, KafkaError)):
        await ensure_topics(acls_applied.login(_TAX), specs)


async def test_a_broker_without_an_authorizer_is_named_as_such(kafka_bootstrap: str) -> None:
    """``interop acls apply`` against an open broker (the test session's, no authorizer)
    says that the broker keeps no ACLs, instead of pretending to have applied them."""
    with pytest.raises(AclAdminError, match="no authorizer configured"):
        await describe_acls(KafkaSettings(bootstrap_servers=kafka_bootstrap))
