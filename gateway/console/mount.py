"""``console_app``: the console's frame (``site``) with the citizen's and auditor's pages."""

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

__all__ = ["CONSOLE_PREFIX", "console_app"]


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
