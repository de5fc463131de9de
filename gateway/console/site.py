"""The console's frame: its sub-application, pages' rendering, sessions, sign-in and out.

``add_console`` mounts a sub-application at ``/console/``. The gateway's member
authentication lets ``/console/`` through (``gateway.app.is_public``): here a session
cookie stands for the member instead, and every page checks the same roles the API
checks, calling the API's own functions (``gateway.audit_api``, ``gateway.accesses_api``,
``gateway.consent.registry``), so a page shows nothing the API would refuse.

This sub-application's middleware loads the session, picks the language, refuses every
POST without the session's CSRF token (403), turns a missing session into a redirect to
the sign-in page and any other ``GatewayError`` into an HTML error page with its status
(never a stack trace). Every answer carries a strict Content-Security-Policy: scripts and
styles only from ``/console/static/`` (vendored, no inline code, no CDN).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jinja2
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import MultiDictProxy

from bus.audit import NoteVerifier
from contracts import Catalogue
from gateway.audit_parts import AuditParts
from gateway.auth import authenticate
from gateway.consent.registry import ConsentRegistry
from gateway.consent.subjects import InvalidSubjectError, normalise_subject
from gateway.console.i18n import LANG_COOKIE, LANGUAGES, choose_language, translate
from gateway.console.sessions import COOKIE_NAME, CSRF_FIELD, ConsoleSession, SessionStore
from gateway.console.settings import ConsoleSettings
from gateway.errors import (
    ForbiddenError,
    GatewayError,
    InvalidRequestError,
    NotFoundError,
    UnauthenticatedError,
)
from gateway.http_server import reading_body
from gateway.members import Member, MemberDirectory, Role

__all__ = [
    "CONSOLE_KEY",
    "CONSOLE_PREFIX",
    "CSP",
    "Console",
    "citizen_identifier",
    "language_of",
    "new_console",
    "render",
    "require_member",
    "session_of",
]

CONSOLE_PREFIX: Final = "/console"
CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HERE: Final = Path(__file__).parent
_SESSION_KEY: Final = web.RequestKey("interop.console.session", ConsoleSession)
_LANG_KEY: Final = web.RequestKey("interop.console.lang", str)
_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Console:
    """What the console's pages use: the gateway's own parts, and the sessions."""

    settings: ConsoleSettings
    directory: MemberDirectory
    consents: ConsentRegistry
    audit: AuditParts
    catalogue: Catalogue
    sessions: SessionStore
    templates: jinja2.Environment
    checkpoint_verifier: NoteVerifier | None
    """The audit log's checkpoint key, when this replica signs checkpoints."""
    checkpoint_origin: str | None


CONSOLE_KEY: Final = web.AppKey("interop.console", Console)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_HERE / "templates"),
        autoescape=True,  # every value is escaped: nothing a caller wrote becomes markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def new_console(
    *,
    settings: ConsoleSettings,
    directory: MemberDirectory,
    consents: ConsentRegistry,
    audit: AuditParts,
    catalogue: Catalogue,
    checkpoint_verifier: NoteVerifier | None,
    checkpoint_origin: str | None,
) -> web.Application:
    """The console sub-application with its frame's routes (``gateway.console.mount``
    adds the pages)."""
    app = web.Application(middlewares=[_console_middleware])
    app[CONSOLE_KEY] = Console(
        settings=settings,
        directory=directory,
        consents=consents,
        audit=audit,
        catalogue=catalogue,
        sessions=SessionStore(
            idle_timeout_s=settings.idle_timeout_s,
            max_age_s=settings.max_age_s,
            max_sessions=settings.max_sessions,
        ),
        templates=_environment(),
        checkpoint_verifier=checkpoint_verifier,
        checkpoint_origin=checkpoint_origin,
    )
    app.on_response_prepare.append(_security_headers)
    router = app.router
    router.add_get("/", _home)
    router.add_get("/sign-in", _sign_in_page)
    router.add_post("/sign-in", _sign_in)
    router.add_post("/sign-out", _sign_out)
    router.add_get("/lang/{code}", _language)
    if settings.demo_citizen_member is not None:
        router.add_get("/demo/citizen", _demo_page)
        router.add_post("/demo/citizen", _demo_sign_in)
    router.add_get("/static/{name}", _static)
    return app


# The console's few files, read once. aiohttp's static route let a file name longer than
# the file system allows escape as an OSError (a 500); a fixed table answers 404 instead.
_STATIC_TYPES: Final = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}
_STATIC: Final = {
    path.name: (path.read_bytes(), _STATIC_TYPES[path.suffix])
    for path in (_HERE / "static").iterdir()
    if path.suffix in _STATIC_TYPES
}


async def _static(request: web.Request) -> web.StreamResponse:
    found = _STATIC.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, content_type = found
    return web.Response(body=body, content_type=content_type, charset=None)


async def _read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form (aiohttp keeps it, so the page's handler reads it again for free);
    400 when it is not text in its charset, which aiohttp raises as UnicodeDecodeError."""
    try:
        async with reading_body(request):
            return await request.post()
    except ValueError:
        raise InvalidRequestError(
            "the form could not be read: it is not text in its charset"
        ) from None


# -- rendering -------------------------------------------------------------------------
def session_of(request: web.Request) -> ConsoleSession | None:
    """This request's live session, if its cookie names one."""
    return request.get(_SESSION_KEY)


def language_of(request: web.Request) -> str:
    """The language this request's page is written in (``choose_language``)."""
    language: str = request.get(_LANG_KEY, "en")
    return language


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    """``template`` in the request's language, with the session's CSRF token."""
    console = request.app[CONSOLE_KEY]
    language = language_of(request)
    session = session_of(request)
    member = None
    if session is not None and session.member_id is not None:
        member = console.directory.get(session.member_id)

    def words(key: str, **values: str) -> str:
        return translate(language, key, **values)

    html = console.templates.get_template(template).render(
        t=words,
        lang=language,
        languages=LANGUAGES,
        path=request.path,
        member=member,
        session=session,
        csrf_field=CSRF_FIELD,
        csrf=session.csrf_token if session is not None else "",
        demo_enabled=console.settings.demo_citizen_member is not None,
        **context,
    )
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status)


def require_member(request: web.Request, role: Role | None = None) -> tuple[ConsoleSession, Member]:
    """The signed-in session and its member (redirect to sign-in if none; 403 without
    ``role``). A member removed from the members file is signed out."""
    session = session_of(request)
    if session is None or session.member_id is None:
        raise UnauthenticatedError("sign in first")
    member = request.app[CONSOLE_KEY].directory.get(session.member_id)
    if member is None:
        request.app[CONSOLE_KEY].sessions.end(session.id)
        raise UnauthenticatedError("sign in first")
    if role is not None and not member.has_role(role):
        raise ForbiddenError(f"{member.id} does not hold the {role.value} role")
    return session, member


def _redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=location)


# -- middleware and headers ------------------------------------------------------------
@web.middleware
async def _console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    session = console.sessions.get(request.cookies.get(COOKIE_NAME))
    if session is not None:
        request[_SESSION_KEY] = session
    request[_LANG_KEY] = choose_language(request)
    try:
        if request.method == "POST":
            form = await _read_form(request)
            token = form.get(CSRF_FIELD)
            if session is None or not session.csrf_ok(token if isinstance(token, str) else None):
                _log.info("console_csrf_refused", path=request.path)
                return render(request, "error.html", status=403, message_key="csrf_refused")
        with structlog.contextvars.bound_contextvars(
            requester=session.member_id if session is not None else None
        ):
            return await handler(request)
    except UnauthenticatedError:
        raise _redirect(f"{CONSOLE_PREFIX}/sign-in") from None
    except web.HTTPException:
        raise
    except GatewayError as error:
        problems = error.problems if isinstance(error, InvalidRequestError) else ()
        return render(
            request,
            "error.html",
            status=error.status,
            message_key="forbidden" if error.status == 403 else None,
            message=error.message,
            problems=problems,
        )


async def _security_headers(_request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"


# -- sign-in, sign-out, language, home -------------------------------------------------
def _ensure_session(request: web.Request) -> tuple[ConsoleSession, bool]:
    session = session_of(request)
    if session is not None:
        return session, False
    session = request.app[CONSOLE_KEY].sessions.new()
    request[_SESSION_KEY] = session
    return session, True


def _with_cookie(
    request: web.Request, response: web.Response, session: ConsoleSession
) -> web.Response:
    request.app[CONSOLE_KEY].sessions.set_cookie(response, session, secure=request.secure)
    return response


def _signed_in_redirect(
    request: web.Request, location: str, session: ConsoleSession
) -> web.HTTPSeeOther:
    redirect = _redirect(location)
    request.app[CONSOLE_KEY].sessions.set_cookie(redirect, session, secure=request.secure)
    return redirect


async def _sign_in_page(request: web.Request) -> web.StreamResponse:
    session, fresh = _ensure_session(request)
    response = render(request, "sign_in.html", failed=False)
    return _with_cookie(request, response, session) if fresh else response


async def _sign_in(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    form = await request.post()
    key = form.get("api_key")
    member: Member | None = None
    if isinstance(key, str) and key.strip():
        member = console.directory.by_api_key(key.strip())
    else:
        try:  # no key typed: the client certificate of this TLS connection, if any
            member = authenticate(console.directory, request)
        except UnauthenticatedError:
            member = None
    if member is None:
        _log.info("console_sign_in_failed")
        # 401: the edge's throttle of failed authentications counts it (no key guessing).
        return render(request, "sign_in.html", status=401, failed=True)
    session = console.sessions.sign_in(session_of(request), member.id)
    _log.info("console_signed_in", member=member.id)
    raise _signed_in_redirect(request, f"{CONSOLE_PREFIX}/", session)


async def _sign_out(request: web.Request) -> web.StreamResponse:
    session = session_of(request)
    if session is not None:
        request.app[CONSOLE_KEY].sessions.end(session.id)
        _log.info("console_signed_out", member=session.member_id)
    redirect = _redirect(f"{CONSOLE_PREFIX}/sign-in")
    SessionStore.clear_cookie(redirect)
    raise redirect


async def _language(request: web.Request) -> web.StreamResponse:
    code = request.match_info["code"]
    if code not in LANGUAGES:
        raise NotFoundError("no such language")
    back = request.query.get("next", "")
    # Only back into the console: never an open redirect to another site.
    if not back.startswith(f"{CONSOLE_PREFIX}/") or "//" in back or "\\" in back:
        back = f"{CONSOLE_PREFIX}/"
    redirect = _redirect(back)
    redirect.set_cookie(
        LANG_COOKIE, code, path=f"{CONSOLE_PREFIX}/", samesite="Strict", secure=request.secure
    )
    raise redirect


async def _home(request: web.Request) -> web.StreamResponse:
    session, member = require_member(request)
    if member.has_role(Role.CITIZEN_PORTAL) and session.subject is None:
        raise _redirect(f"{CONSOLE_PREFIX}/citizen/act")
    return render(
        request,
        "home.html",
        auditor=member.has_role(Role.AUDITOR),
        citizen=member.has_role(Role.CITIZEN_PORTAL),
    )


# -- the development demo citizen --------------------------------------------------------
async def _demo_page(request: web.Request) -> web.StreamResponse:
    session, fresh = _ensure_session(request)
    response = render(request, "demo_citizen.html", failed=False)
    return _with_cookie(request, response, session) if fresh else response


def citizen_identifier(text: object) -> str:
    """A document number typed in a form, normalised (400 without echoing it)."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError("type a document number")
    if len(text) > 64:
        raise InvalidRequestError("the document number is too long (at most 64 characters)")
    try:
        return normalise_subject(text)
    except (InvalidSubjectError, ValueError):
        raise InvalidRequestError("the document number is not valid") from None


async def _demo_sign_in(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE_KEY]
    portal_id = console.settings.demo_citizen_member
    portal = console.directory.get(portal_id) if portal_id is not None else None
    if portal is None or not portal.has_role(Role.CITIZEN_PORTAL):
        raise ForbiddenError("the demo citizen sign-in has no citizen-portal member")
    form = await request.post()
    subject = citizen_identifier(form.get("document_number"))
    session = console.sessions.sign_in(session_of(request), portal.id, subject=subject, demo=True)
    _log.info("console_demo_citizen_signed_in", member=portal.id)
    raise _signed_in_redirect(request, f"{CONSOLE_PREFIX}/citizen/accesses", session)
