"""Authentication and rate limiting over real HTTP and real TLS, with real certificates.

A tiny aiohttp app (the error middleware, the auth middleware, the rate limiter and one
handler that answers with the caller's member id) runs on a free loopback port with
``server_ssl_context``; clients connect with ``aiohttp`` and their own SSL contexts. The
PKI is made on the fly: our CA, a server certificate for 127.0.0.1/localhost, client
certificates for a pinned member, a CN-mapped member and a stranger, and a certificate
from a foreign CA that claims the CN-mapped member's name.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from contracts import load_catalogue
from gateway.auth import (
    TlsConfigError,
    TlsSettings,
    auth_middleware,
    current_member,
    server_ssl_context,
)
from gateway.members import MemberDirectory, MembersConfig, new_api_key
from gateway.problems import PROBLEM_CONTENT_TYPE, error_middleware
from gateway.rate_limit import ManualClock, RateLimiter, rate_limit_middleware
from tests.integration.conftest import free_port
from tests.support.certs import CertificateAuthority, client_ssl_context

ALCALA_KEY, ALCALA_HASH = new_api_key()
GETAFE_KEY, GETAFE_HASH = new_api_key()
GETAFE_CN = "backoffice.getafe.es"
CHALLENGE = 'Bearer realm="interop-bus"'


@dataclass(frozen=True)
class Pki:
    """Files of the on-the-fly PKI; client credentials are (cert file, key file)."""

    ca_file: Path
    server: tuple[Path, Path]
    alcala: tuple[Path, Path]  # pinned by fingerprint
    getafe: tuple[Path, Path]  # mapped by subject CN
    stranger: tuple[Path, Path]  # signed by our CA, in no member's entry
    foreign: tuple[Path, Path]  # signed by another CA, claiming Getafe's CN
    alcala_fingerprint: str


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """One PKI for the module (key generation is the slow part)."""
    folder = tmp_path_factory.mktemp("pki")
    ca, other_ca = CertificateAuthority.create("interop CA"), CertificateAuthority.create("evil")
    alcala = ca.issue_client("backoffice.alcala.es")
    return Pki(
        ca_file=ca.write(folder),
        server=ca.issue_server(["127.0.0.1", "localhost"]).write(folder, "server"),
        alcala=alcala.write(folder, "alcala"),
        getafe=ca.issue_client(GETAFE_CN).write(folder, "getafe"),
        stranger=ca.issue_client("stranger.example.es").write(folder, "stranger"),
        foreign=other_ca.issue_client(GETAFE_CN).write(folder, "foreign"),
        alcala_fingerprint=alcala.fingerprint,
    )


def _directory(pki: Pki) -> MemberDirectory:
    right = {"service": "tax.income-band", "purposes": ["scholarship"]}
    config = MembersConfig.model_validate(
        {
            "members": [
                {
                    "id": "es.ayto-alcala",
                    "name": "Ayuntamiento de Alcalá",
                    "roles": ["consumer"],
                    "api_keys": [{"sha256": ALCALA_HASH}],
                    "certificates": [{"sha256_fingerprint": pki.alcala_fingerprint}],
                    "rights": [right],
                },
                {
                    "id": "es.ayto-getafe",
                    "name": "Ayuntamiento de Getafe",
                    "roles": ["consumer"],
                    "api_keys": [{"sha256": GETAFE_HASH}],
                    "certificates": [{"subject_cn": GETAFE_CN}],
                    "rights": [right],
                },
            ]
        }
    )
    return MemberDirectory.from_config(config, load_catalogue())


@dataclass
class Gateway:
    """A running test server: its URL, its manual clock and how often the handler ran."""

    url: str
    clock: ManualClock
    calls: list[str]


StartGateway = Callable[[bool], Awaitable[Gateway]]


@pytest.fixture
async def start_gateway(pki: Pki) -> AsyncIterator[StartGateway]:
    """Start the app over TLS; the argument is ``require_client_cert``."""
    runners: list[web.AppRunner] = []

    async def start(require_client_cert: bool) -> Gateway:
        clock = ManualClock()
        calls: list[str] = []

        async def whoami(request: web.Request) -> web.Response:
            calls.append(request.path)
            bound = structlog.contextvars.get_contextvars().get("requester")
            return web.json_response({"member": current_member(request).id, "bound": bound})

        async def health(request: web.Request) -> web.Response:
            calls.append(request.path)
            return web.json_response({"status": "ok"})

        limiter = RateLimiter(rate_per_s=0.5, burst=2, clock=clock)
        app = web.Application(
            middlewares=[
                error_middleware,
                auth_middleware(_directory(pki), is_public=lambda r: r.path == "/health"),
                rate_limit_middleware(limiter),
            ]
        )
        app.router.add_get("/whoami", whoami)
        app.router.add_get("/health", health)
        tls = TlsSettings(
            cert_file=pki.server[0],
            key_file=pki.server[1],
            client_ca_file=pki.ca_file,
            require_client_cert=require_client_cert,
        )
        context = server_ssl_context(tls)
        # Only our CA is trusted for client certificates, not the system's public CAs.
        assert [ca["subject"] for ca in context.get_ca_certs()] == [
            ((("organizationName", "interop-bus tests"),), (("commonName", "interop CA"),))
        ]
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=context).start()
        return Gateway(f"https://127.0.0.1:{port}", clock, calls)

    yield start
    for runner in runners:
        await runner.cleanup()


async def _get(
    url: str, context: ssl.SSLContext, key: str | None = None, authorization: str | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    if authorization is not None:
        headers["Authorization"] = authorization
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, ssl=context, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.json(content_type=None)


def _assert_unauthenticated(
    status: int, headers: dict[str, str], body: Any, *, detail: str, challenge: str = CHALLENGE
) -> None:
    assert status == 401
    assert headers["Content-Type"].split(";")[0] == PROBLEM_CONTENT_TYPE
    assert headers["WWW-Authenticate"] == challenge
    assert body["code"] == "UNAUTHENTICATED"
    assert body["status"] == 401
    assert body["detail"] == detail
    assert body["instance"] == "/whoami"


# -- client certificates (CERT_REQUIRED) ------------------------------------------------


async def test_pinned_certificate_authenticates_its_member(
    pki: Pki, start_gateway: StartGateway
) -> None:
    """A certificate pinned by fingerprint is its member; the requester is bound for logs."""
    gateway = await start_gateway(True)
    status, _, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file, pki.alcala)
    )
    assert status == 200
    assert body == {"member": "es.ayto-alcala", "bound": "es.ayto-alcala"}


async def test_cn_mapped_certificate_authenticates_its_member(
    pki: Pki, start_gateway: StartGateway
) -> None:
    """A certificate from our CA with a configured subject CN is that member."""
    gateway = await start_gateway(True)
    status, _, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file, pki.getafe)
    )
    assert status == 200
    assert body["member"] == "es.ayto-getafe"


async def test_certificate_of_unknown_member_is_401(pki: Pki, start_gateway: StartGateway) -> None:
    """Our CA signed it, but no member claims it: 401 problem, and the handler never runs."""
    gateway = await start_gateway(True)
    status, headers, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file, pki.stranger)
    )
    _assert_unauthenticated(
        status, headers, body, detail="the client certificate is not registered to any member"
    )
    assert gateway.calls == []


@pytest.mark.parametrize("require_client_cert", [True, False])
@pytest.mark.parametrize(
    ("tls_version", "failure"),
    [
        # TLS 1.2: the server checks the client certificate inside the handshake, so the
        # connection never opens.
        (ssl.TLSVersion.TLSv1_2, aiohttp.ClientConnectorError),
        # TLS 1.3: the client finishes its half of the handshake first; the server then
        # drops the connection before reading the request.
        (ssl.TLSVersion.TLSv1_3, aiohttp.ServerDisconnectedError),
    ],
)
async def test_certificate_from_a_foreign_ca_is_refused_in_the_handshake(
    pki: Pki,
    start_gateway: StartGateway,
    require_client_cert: bool,
    tls_version: ssl.TLSVersion,
    failure: type[Exception],
) -> None:
    """A foreign CA's certificate never reaches HTTP, even claiming a known member's CN.

    Also with ``require_client_cert=False``: CERT_OPTIONAL only admits clients with no
    certificate at all; one that does not verify still fails the handshake.
    """
    gateway = await start_gateway(require_client_cert)
    context = client_ssl_context(pki.ca_file, pki.foreign)
    context.minimum_version = context.maximum_version = tls_version
    with pytest.raises(failure):
        await _get(f"{gateway.url}/whoami", context, key=GETAFE_KEY)
    assert gateway.calls == []


async def test_no_certificate_is_refused_when_required(
    pki: Pki, start_gateway: StartGateway
) -> None:
    """With CERT_REQUIRED a client without a certificate cannot connect, API key or not."""
    gateway = await start_gateway(True)
    with pytest.raises(aiohttp.ClientConnectionError):
        await _get(f"{gateway.url}/whoami", client_ssl_context(pki.ca_file), key=ALCALA_KEY)
    assert gateway.calls == []


# -- API keys (CERT_OPTIONAL, no client certificate) -------------------------------------


async def test_api_key_authenticates_its_member(pki: Pki, start_gateway: StartGateway) -> None:
    """A known API key in `Authorization: Bearer` is its member."""
    gateway = await start_gateway(False)
    status, _, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file), ALCALA_KEY
    )
    assert status == 200
    assert body == {"member": "es.ayto-alcala", "bound": "es.ayto-alcala"}


@pytest.mark.parametrize(
    ("authorization", "detail", "challenge"),
    [
        (None, "credentials required: a client certificate or an API key", CHALLENGE),
        ("Bearer not-a-key", "the API key is not valid", CHALLENGE + ', error="invalid_token"'),
        (
            f"Basic {ALCALA_KEY}",
            "the Authorization header must be 'Bearer <API key>'",
            CHALLENGE + ', error="invalid_token"',
        ),
        (
            "Bearer ",
            "the Authorization header must be 'Bearer <API key>'",
            CHALLENGE + ', error="invalid_token"',
        ),
    ],
)
async def test_missing_or_bad_api_key_is_401(
    pki: Pki,
    start_gateway: StartGateway,
    authorization: str | None,
    detail: str,
    challenge: str,
) -> None:
    """No key, an unknown key or another scheme: 401 with a Bearer challenge."""
    gateway = await start_gateway(False)
    status, headers, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file), authorization=authorization
    )
    _assert_unauthenticated(
        status,
        headers,
        body,
        detail=detail,
        challenge=challenge,
    )
    assert gateway.calls == []


async def test_certificate_and_key_of_different_members_is_401(
    pki: Pki, start_gateway: StartGateway
) -> None:
    """Two credentials naming two members would make the audit trail ambiguous: refused."""
    gateway = await start_gateway(False)
    status, headers, body = await _get(
        f"{gateway.url}/whoami", client_ssl_context(pki.ca_file, pki.alcala), GETAFE_KEY
    )
    _assert_unauthenticated(
        status,
        headers,
        body,
        detail="the client certificate and the API key name different members",
        challenge=CHALLENGE + ', error="invalid_token"',
    )


async def test_public_route_needs_no_credentials(pki: Pki, start_gateway: StartGateway) -> None:
    """`is_public` routes pass without credentials and are never rate limited."""
    gateway = await start_gateway(False)
    for _ in range(5):
        status, _, body = await _get(f"{gateway.url}/health", client_ssl_context(pki.ca_file))
        assert (status, body) == (200, {"status": "ok"})
    assert gateway.calls == ["/health"] * 5


# -- rate limit ---------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(
    pki: Pki, start_gateway: StartGateway
) -> None:
    """burst 2 at 0.5/s: the third request is 429, Retry-After 2; others are unaffected."""
    gateway = await start_gateway(False)
    url, context = f"{gateway.url}/whoami", client_ssl_context(pki.ca_file)
    assert (await _get(url, context, ALCALA_KEY))[0] == 200
    assert (await _get(url, context, ALCALA_KEY))[0] == 200
    status, headers, body = await _get(url, context, ALCALA_KEY)
    assert status == 429
    assert headers["Retry-After"] == "2"
    assert headers["Content-Type"].split(";")[0] == PROBLEM_CONTENT_TYPE
    assert body["code"] == "RATE_LIMITED"
    assert body["status"] == 429
    assert len(gateway.calls) == 2  # the refused request never reached the handler
    assert (await _get(url, context, GETAFE_KEY))[0] == 200  # per member
    gateway.clock.advance(2)
    assert (await _get(url, context, ALCALA_KEY))[0] == 200


def test_unreadable_tls_files_are_a_start_up_error_naming_the_file(
    pki: Pki, tmp_path: Path
) -> None:
    """A missing CA or a key that does not match the certificate fails with the file named."""
    missing_ca = tmp_path / "missing-ca.crt"
    with pytest.raises(TlsConfigError, match=r"missing-ca\.crt: cannot load the client CA"):
        server_ssl_context(
            TlsSettings(cert_file=pki.server[0], key_file=pki.server[1], client_ca_file=missing_ca)
        )
    with pytest.raises(TlsConfigError, match="cannot load the server certificate") as caught:
        server_ssl_context(
            TlsSettings(cert_file=pki.server[0], key_file=pki.alcala[1], client_ca_file=pki.ca_file)
        )
    assert caught.value.code == "GATEWAY_TLS_CONFIG_INVALID"
