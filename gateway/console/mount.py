"""``console_app``: the console's frame (``site``) with the citizen's and auditor's pages;
``mount_console`` adds it to the gateway's application under ``/console/``."""

from __future__ import annotations

from aiohttp import web

from bus.audit import NoteVerifier
from contracts import Catalogue
from gateway.audit_parts import AuditParts
from gateway.consent.registry import ConsentRegistry
from gateway.console.auditor_pages import add_auditor_routes
from gateway.console.citizen_pages import add_citizen_routes
from gateway.console.settings import ConsoleSettings
from gateway.console.site import CONSOLE_PREFIX, new_console
from gateway.members import MemberDirectory
from gateway.settings import GatewaySettings

__all__ = ["CONSOLE_PREFIX", "console_app", "mount_console"]


def console_app(
    *,
    settings: ConsoleSettings,
    directory: MemberDirectory,
    consents: ConsentRegistry,
    audit: AuditParts,
    catalogue: Catalogue,
    checkpoint_verifier: NoteVerifier | None,
    checkpoint_origin: str | None,
) -> web.Application:
    """The console sub-application; mount it with ``app.add_subapp("/console/", ...)``."""
    app = new_console(
        settings=settings,
        directory=directory,
        consents=consents,
        audit=audit,
        catalogue=catalogue,
        checkpoint_verifier=checkpoint_verifier,
        checkpoint_origin=checkpoint_origin,
    )
    add_citizen_routes(app)
    add_auditor_routes(app)
    return app


def mount_console(
    app: web.Application,
    *,
    settings: GatewaySettings,
    directory: MemberDirectory,
    consents: ConsentRegistry,
    audit: AuditParts,
    catalogue: Catalogue,
) -> None:
    """Serve the console under ``/console/`` (the gateway lets that prefix past member
    authentication: the console's sessions stand for members there)."""
    indexer = settings.audit.indexer
    signer = indexer.signer()
    configured = settings.console.checkpoint_key
    verifier = (
        NoteVerifier.parse(configured)
        if configured is not None
        else (signer.verifier if signer is not None else None)
    )
    app.router.add_get(CONSOLE_PREFIX, _to_console)
    app.add_subapp(
        CONSOLE_PREFIX + "/",
        console_app(
            settings=settings.console,
            directory=directory,
            consents=consents,
            audit=audit,
            catalogue=catalogue,
            checkpoint_verifier=verifier,
            checkpoint_origin=indexer.origin,
        ),
    )


async def _to_console(_request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(location=CONSOLE_PREFIX + "/")
