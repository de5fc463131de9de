"""Kafka client security: ``KafkaSettings`` turned into aiokafka's connection arguments.

This is the one place that knows how aiokafka spells TLS, mutual TLS and SASL/SCRAM;
every producer, consumer and admin client of the bus is built with
``**kafka_client_security(settings)``. Files are read here, once per client, so a missing
or unreadable CA, certificate or key is a ``KafkaSecurityConfigError`` that names the
setting and the file, never a handshake failure minutes later.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path
from typing import TypedDict

from aiokafka.conn import create_conn
from aiokafka.errors import KafkaError

from bus.errors import BusError
from bus.settings import KafkaSettings

__all__ = [
    "KafkaClientSecurity",
    "KafkaSecurityConfigError",
    "connection_failure_reason",
    "kafka_client_security",
]


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


async def connection_failure_reason(
    settings: KafkaSettings, *, timeout_s: float = 5.0
) -> str | None:
    """Why a secured connection to the first bootstrap server fails, or None.

    aiokafka reports a refused TLS handshake or a failed SASL login as a bare
    "Unable to bootstrap"; an operator needs to know whether the broker's certificate is
    not trusted, the broker refused ours, or the credentials are wrong. Called only after
    a failure, on a plain connection of its own.
    """
    if settings.security_protocol == "PLAINTEXT":
        return None
    host, _, port_text = settings.bootstrap_servers.split(",")[0].rpartition(":")
    host, port = host.strip("[]"), int(port_text)
    security = kafka_client_security(settings)
    try:
        async with asyncio.timeout(timeout_s):
            if security["ssl_context"] is not None:
                reason = await _tls_failure_reason(host, port, security["ssl_context"])
                if reason is not None:
                    return reason
            if settings.security_protocol.startswith("SASL_"):
                connection = await create_conn(
                    host,
                    port,
                    client_id=settings.client_id,
                    request_timeout_ms=int(timeout_s * 1000),
                    **security,
                )
                connection.close()
    except KafkaError as exc:
        return (
            f"SASL login as {settings.sasl_username!r} with {settings.sasl_mechanism} "
            f"failed ({type(exc).__name__})"
        )
    except (OSError, TimeoutError):
        return None
    return None


async def _tls_failure_reason(host: str, port: int, context: ssl.SSLContext) -> str | None:
    try:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=host
        )
    except ssl.SSLCertVerificationError as exc:
        return f"TLS: the broker's certificate is not trusted ({exc.verify_message})"
    except ssl.SSLError as exc:
        return f"TLS handshake failed ({exc.reason or exc})"
    try:
        # With TLS 1.3 the broker checks our certificate after the handshake and answers
        # a missing or untrusted one with an alert on the first read.
        async with asyncio.timeout(0.5):
            await reader.read(1)
    except ssl.SSLError as exc:
        return f"TLS: the broker refused this client ({exc.reason or exc})"
    except (OSError, TimeoutError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()
    return None
