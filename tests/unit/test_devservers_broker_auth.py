"""The local broker's authentication settings, without a broker (``devservers.broker_auth``).

The broker-level behaviour (logins refused, ACLs enforced) is tested against a real broker
in ``tests/integration/acls``; these check what the runner writes and refuses.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from devservers.broker_auth import BROKER_USER, BrokerAuth, BrokerAuthError, new_password
from devservers.kafka import KafkaRunner, RunnerError


def _auth(**users: str) -> BrokerAuth:
    return BrokerAuth(
        broker_password="broker-pw",
        admin_user="interop-admin",
        admin_password="admin-pw",
        users=users or {"es.aeat": "tax-pw"},
    )


def test_no_listener_is_plaintext_and_the_authorizer_denies_by_default() -> None:
    """Clients speak SCRAM, controllers PLAIN; the StandardAuthorizer is on, nothing is
    allowed without an ACL, and only the brokers and the administrator are super users."""
    auth = _auth()
    listeners = auth.listener_settings("127.0.0.1", 19092, 19093)
    assert "PLAINTEXT://" not in listeners.replace("SASL_PLAINTEXT", "")
    assert "CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT" in listeners
    settings = auth.settings()
    assert "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer" in (
        settings
    )
    assert "allow.everyone.if.no.acl.found=false" in settings
    assert f"super.users=User:{BROKER_USER};User:interop-admin" in settings
    assert "User:ANONYMOUS" not in settings
    assert "es.aeat" not in settings  # members get rights from ACLs only


def test_every_user_is_formatted_with_its_scram_credential() -> None:
    """``kafka-storage format`` gets one SCRAM-SHA-512 credential per user, brokers and
    administrator included."""
    arguments = _auth(**{"es.aeat": "tax-pw", "interop-gateway": "gw-pw"}).scram_arguments()
    credentials = arguments[1::2]
    assert arguments[::2] == ["--add-scram"] * 4
    assert "SCRAM-SHA-512=[name=es.aeat,password=tax-pw]" in credentials
    assert f"SCRAM-SHA-512=[name={BROKER_USER},password=broker-pw]" in credentials


@pytest.mark.parametrize(
    ("name", "password"),
    [("es aeat", "pw"), ("es.aeat", "pw]x"), ("es.aeat", 'pw"'), ("", "pw"), ("x" * 65, "pw")],
)
def test_names_and_passwords_that_would_break_the_jaas_or_format_line_are_refused(
    name: str, password: str
) -> None:
    """A space, bracket or quote would end the ``--add-scram`` or JAAS value early."""
    with pytest.raises(BrokerAuthError, match=r"1\.\.64 of"):
        _auth(**{name: password})


def test_the_brokers_identity_is_not_a_member_user() -> None:
    """No member may be given the brokers' super-user identity."""
    with pytest.raises(BrokerAuthError, match="brokers' own identity"):
        _auth(**{BROKER_USER: "pw"})


def test_logins_round_trip_and_only_known_users_get_client_settings() -> None:
    """The saved JSON reads back equal; client settings log in with the user's own
    password; the brokers' identity and unknown names get none."""
    auth = _auth()
    assert BrokerAuth.from_json(auth.to_json()) == auth
    settings = auth.client_settings("127.0.0.1:19092", "es.aeat")
    assert settings.sasl_username == "es.aeat"
    assert settings.sasl_password is not None
    assert settings.sasl_password.get_secret_value() == "tax-pw"
    assert settings.security_protocol == "SASL_PLAINTEXT"
    for user in (BROKER_USER, "es.tgss"):
        with pytest.raises(BrokerAuthError, match="no Kafka user"):
            auth.client_settings("127.0.0.1:19092", user)
    assert len({new_password() for _ in range(50)}) == 50


def test_a_formatted_directory_keeps_its_logins_and_refuses_others(tmp_path: Path) -> None:
    """A data directory formatted with logins is adopted by a runner given none, and a
    runner given other logins (or one on a directory formatted without any) is refused
    with the way out, since SCRAM credentials are only written at format time."""
    data = tmp_path / "kafka"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "meta.properties").write_text("formatted\n")
    runner = KafkaRunner(data, auth=_auth())
    with pytest.raises(RunnerError, match="formatted without authentication"):
        runner._format_once("java", tmp_path, [])
    runner._write_private(runner.auth_file, _auth().to_json())
    assert stat.S_IMODE(os.stat(runner.auth_file).st_mode) == 0o600
    runner._format_once("java", tmp_path, [])  # the same logins: nothing to do
    adopting = KafkaRunner(data)
    adopting._adopt_saved_auth()
    assert adopting.auth == _auth()
    other = KafkaRunner(data, auth=_auth(**{"es.aeat": "another-pw"}))
    with pytest.raises(RunnerError, match="with other Kafka logins"):
        other._format_once("java", tmp_path, [])
