"""``KafkaSettings`` security fields and their translation into aiokafka arguments."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from bus.kafka_security import KafkaSecurityConfigError, kafka_client_security
from bus.settings import KafkaSettings
from tests.support.certs import CertificateAuthority


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"ssl_cafile": "ca.pem"}, "ssl_cafile need security_protocol SSL or SASL_SSL"),
        (
            {"security_protocol": "SSL", "ssl_certfile": "c.pem"},
            "give ssl_certfile and ssl_keyfile together",
        ),
        (
            {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512"},
            "SASL_SSL needs sasl_username, sasl_password",
        ),
        ({"sasl_username": "u"}, "sasl_username need security_protocol SASL_SSL"),
        ({"security_protocol": "SASL_SSL", "sasl_mechanism": "PLAIN"}, "sasl_mechanism"),
        ({"security_protocol": "TLS"}, "security_protocol"),
    ],
)
def test_incoherent_security_settings_are_refused(fields: dict[str, object], message: str) -> None:
    """Half a security setup fails when the settings load, naming the fields."""
    with pytest.raises(ValidationError, match=message):
        KafkaSettings.model_validate(fields)


def test_plaintext_has_no_ssl_context() -> None:
    """The development default talks plaintext and carries no credentials."""
    security = kafka_client_security(KafkaSettings())
    assert security["security_protocol"] == "PLAINTEXT"
    assert security["ssl_context"] is None
    assert security["sasl_plain_password"] is None


def test_mutual_tls_context_verifies_the_broker_and_presents_our_certificate(
    tmp_path: Path,
) -> None:
    """SSL with a CA and a client certificate: verification on, hostname per setting."""
    ca = CertificateAuthority.create()
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(ca.issued.cert_pem())
    cert, key = ca.issue_client("gateway.example").write(tmp_path, "client")
    settings = KafkaSettings(
        security_protocol="SSL",
        ssl_cafile=ca_file,
        ssl_certfile=cert,
        ssl_keyfile=key,
        ssl_check_hostname=False,
    )
    context = kafka_client_security(settings)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is False
    assert len(context.get_ca_certs()) == 1


def test_scram_credentials_are_passed_and_never_shown() -> None:
    """The password reaches aiokafka, but not the settings' repr."""
    settings = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="interop-gateway",
        sasl_password="s3cret-value",  # type: ignore[arg-type]
    )
    security = kafka_client_security(settings)
    assert security["sasl_mechanism"] == "SCRAM-SHA-256"
    assert security["sasl_plain_password"] == "s3cret-value"
    assert "s3cret-value" not in repr(settings)


def test_a_key_that_does_not_match_the_certificate_is_named(tmp_path: Path) -> None:
    """A wrong key file is a config error naming both files, before any connection."""
    ca = CertificateAuthority.create()
    cert, _ = ca.issue_client("a").write(tmp_path, "a")
    _, other_key = ca.issue_client("b").write(tmp_path, "b")
    settings = KafkaSettings(security_protocol="SSL", ssl_certfile=cert, ssl_keyfile=other_key)
    with pytest.raises(KafkaSecurityConfigError, match="do not make a usable client certificate"):
        kafka_client_security(settings)


def test_a_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    """A CA file with garbage in it is reported with the setting's name."""
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate")
    with pytest.raises(KafkaSecurityConfigError, match=r"kafka\.ssl_cafile"):
        kafka_client_security(KafkaSettings(security_protocol="SSL", ssl_cafile=bogus))
