"""Authentication: which member is calling, by client certificate (mTLS) or API key.

``auth_middleware`` runs on every non-public request. It accepts two credentials:

* the client certificate of the TLS connection (production). The server's SSL context
  (``server_ssl_context``) verifies the chain against the configured client CA during the
  handshake, so a certificate from any other CA never reaches this code; the directory
  then maps it to a member by fingerprint pin or subject CN;
* ``Authorization: Bearer <key>`` with an API key whose SHA-256 is in the members file
  (development).

Every credential presented must be valid, and if both are presented they must name the
same member: a wrong credential is refused rather than skipped, because a caller with two
identities would make the audit trail ambiguous. No credential, an unknown one, or a
conflict answers 401 ``UNAUTHENTICATED`` with ``WWW-Authenticate: Bearer``.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Final

import pydantic
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from contracts.errors import InteropError
from gateway.errors import UnauthenticatedError
from gateway.members import Member, MemberDirectory
from gateway.problems import problem_response
from gateway.redaction import safe_path

__all__ = [
    "MEMBER_KEY",
    "TlsConfigError",
    "TlsSettings",
    "auth_middleware",
    "current_member",
    "server_ssl_context",
]

MEMBER_KEY: Final = web.RequestKey("interop.member", Member)
"""Where the authenticated ``Member`` is stored on the request.

A typed ``RequestKey`` rather than the plain string: aiohttp warns (``NotAppKeyWarning``)
on string keys, and a warning in the request path is an error under the test settings.
"""

_REALM: Final = 'Bearer realm="interop-bus"'
_log = structlog.get_logger(__name__)


class TlsConfigError(InteropError):
    """The gateway's TLS files cannot be loaded (a start-up error naming the file)."""

    code = "GATEWAY_TLS_CONFIG_INVALID"


class TlsSettings(pydantic.BaseModel):
    """The gateway's server certificate and the CA that signs members' client certificates."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")

    cert_file: Path
    """PEM server certificate (with its intermediates)."""
    key_file: Path
    """PEM private key of the server certificate."""
    key_password: pydantic.SecretStr | None = None
    client_ca_file: Path
    """PEM CA certificate(s) that client certificates must chain to; nothing else is trusted."""
    require_client_cert: bool = True
    """False lets callers without a certificate in (to use an API key); a certificate that
    is presented must still verify against ``client_ca_file``."""


def server_ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """A server context: TLS >= 1.2, client certificates verified against the client CA only."""
    # Not ssl.create_default_context(): for CLIENT_AUTH it loads the system's public CAs,
    # and any certificate they signed would then pass as a member's. Only our CA counts.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    password = tls.key_password.get_secret_value() if tls.key_password else None
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file, password=password)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(
            f"{tls.cert_file} / {tls.key_file}: cannot load the server certificate: {exc}"
        ) from exc
    try:
        context.load_verify_locations(cafile=tls.client_ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise TlsConfigError(f"{tls.client_ca_file}: cannot load the client CA: {exc}") from exc
    # With CERT_OPTIONAL OpenSSL still aborts the handshake on a certificate that does not
    # verify; it only lets a client without any certificate through.
    context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context


def current_member(request: web.Request) -> Member:
    """The authenticated member of this request (``UnauthenticatedError`` if none)."""
    member = request.get(MEMBER_KEY)
    if not isinstance(member, Member):
        raise UnauthenticatedError("this request carries no authenticated member")
    return member


def _verified_peer_certificate(request: web.Request) -> bytes | None:
    transport = request.transport
    ssl_object = None if transport is None else transport.get_extra_info("ssl_object")
    if not isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        return None
    # getpeercert() also returns certificates nobody verified when verify_mode is
    # CERT_NONE; a subject CN from such a certificate would be a claim, not an identity.
    if ssl_object.context.verify_mode == ssl.CERT_NONE:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return der or None


def _bearer_key(request: web.Request) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise UnauthenticatedError("the Authorization header must be 'Bearer <API key>'")
    return key.strip()


def authenticate(directory: MemberDirectory, request: web.Request) -> Member:
    """The member behind this request's credentials; ``UnauthenticatedError`` otherwise."""
    der = _verified_peer_certificate(request)
    key = _bearer_key(request)
    by_cert = None if der is None else directory.by_certificate(der)
    if der is not None and by_cert is None:
        raise UnauthenticatedError("the client certificate is not registered to any member")
    by_key = None if key is None else directory.by_api_key(key)
    if key is not None and by_key is None:
        raise UnauthenticatedError("the API key is not valid")
    if by_cert is not None and by_key is not None and by_cert.id != by_key.id:
        raise UnauthenticatedError("the client certificate and the API key name different members")
    member = by_cert or by_key
    if member is None:
        raise UnauthenticatedError("credentials required: a client certificate or an API key")
    return member


def auth_middleware(
    directory: MemberDirectory, *, is_public: Callable[[web.Request], bool]
) -> Middleware:
    """Authenticate every request for which ``is_public(request)`` is false.

    Place it after ``error_middleware`` (which renders the other errors) and before the
    rate limiter. It renders 401s itself, because only it knows to add ``WWW-Authenticate``
    (RFC 9110 requires it on a 401); that also covers a handler calling ``current_member``.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_public(request):
            return await handler(request)
        try:
            member = authenticate(directory, request)
        except UnauthenticatedError as error:
            _log.info("authentication_failed", path=safe_path(request), reason=error.message)
            return _unauthenticated(error, request, bearer_sent="Authorization" in request.headers)
        request[MEMBER_KEY] = member
        # bound_contextvars restores the previous values: requests on one keep-alive
        # connection share a task, so a plain bind would leak into the next request.
        with structlog.contextvars.bound_contextvars(requester=member.id):
            try:
                return await handler(request)
            except UnauthenticatedError as error:
                return _unauthenticated(error, request, bearer_sent=False)

    return middleware


def _unauthenticated(
    error: UnauthenticatedError, request: web.Request, *, bearer_sent: bool
) -> web.Response:
    response = problem_response(error, instance=safe_path(request))
    # RFC 6750 section 3: name the failure when a token was sent, not when none was.
    challenge = f'{_REALM}, error="invalid_token"' if bearer_sent else _REALM
    response.headers["WWW-Authenticate"] = challenge
    return response
