"""Kafka client security: ``KafkaSettings`` turned into aiokafka's connection arguments.

This is the one place that knows how aiokafka spells TLS, mutual TLS and SASL/SCRAM;
every producer, consumer and admin client of the bus is built with
``**kafka_client_security(settings)``. Files are read here, once per client, so a missing
or unreadable CA, certificate or key is a ``KafkaSecurityConfigError`` that names the
setting and the file, never a handshake failure minutes later.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TypedDict

from bus.errors import BusError
from bus.settings import KafkaSettings

__all__ = ["KafkaClientSecurity", "KafkaSecurityConfigError", "kafka_client_security"]


class KafkaSecurityConfigError(BusError):
    """The Kafka client's TLS or SASL settings point at files that cannot be used."""

    code = "BUS_KAFKA_SECURITY_CONFIG"


class KafkaClientSecurity(TypedDict):
    """The keyword arguments aiokafka's producer, consumer and admin client take."""

    security_protocol: str
    ssl_context: ssl.SSLContext | None
    sasl_mechanism: str
    sasl_plain_username: str | None
    sasl_plain_password: str | None


def kafka_client_security(settings: KafkaSettings) -> KafkaClientSecurity:
    """aiokafka arguments for ``settings``; raises ``KafkaSecurityConfigError`` on bad files."""
    tls = settings.security_protocol in ("SSL", "SASL_SSL")
    password = settings.sasl_password
    return KafkaClientSecurity(
        security_protocol=settings.security_protocol,
        ssl_context=_ssl_context(settings) if tls else None,
        # aiokafka wants a mechanism even without SASL; PLAIN is its (unused) default.
        sasl_mechanism=settings.sasl_mechanism or "PLAIN",
        sasl_plain_username=settings.sasl_username,
        sasl_plain_password=password.get_secret_value() if password is not None else None,
    )


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    # create_default_context: TLS 1.2+, certificate verification on, system CAs unless a
    # CA file is given (a private PKI's CA replaces them, it does not add to them).
    try:
        context = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH,
            cafile=str(_readable(settings.ssl_cafile, "ssl_cafile"))
            if settings.ssl_cafile is not None
            else None,
        )
    except ssl.SSLError as exc:
        raise KafkaSecurityConfigError(
            f"kafka.ssl_cafile {settings.ssl_cafile}: not a PEM CA certificate ({exc.reason})"
        ) from exc
    context.check_hostname = settings.ssl_check_hostname
    if settings.ssl_certfile is not None and settings.ssl_keyfile is not None:
        certfile = _readable(settings.ssl_certfile, "ssl_certfile")
        keyfile = _readable(settings.ssl_keyfile, "ssl_keyfile")
        key_password = settings.ssl_key_password
        try:
            context.load_cert_chain(
                certfile,
                keyfile,
                password=key_password.get_secret_value() if key_password is not None else None,
            )
        except ssl.SSLError as exc:
            raise KafkaSecurityConfigError(
                f"kafka.ssl_certfile {certfile} and kafka.ssl_keyfile {keyfile} do not make a "
                f"usable client certificate: {exc.reason or exc}"
            ) from exc
    return context


def _readable(path: Path, setting: str) -> Path:
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise KafkaSecurityConfigError(
            f"kafka.{setting} {path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from exc
    return path
