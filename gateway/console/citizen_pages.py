"""The citizen's pages: who looked at my data; my consents and oppositions.

Reached through a ``citizen-portal`` member acting for one citizen (the portal signed in
and named the citizen it verified, or the development demo sign-in). Every read and
change goes through the API's own code, with the portal member as the caller:
``subject_accesses`` (``POST /v1/subjects/accesses``) and the ``ConsentRegistry``
(``/v1/consents``, ``/v1/oppositions``), which audits every change before answering.
A citizen revokes only their own records: an id not among them answers 404, as if it
did not exist.

The consent's evidence is the SHA-256 of the plain-words statement the citizen agreed to
(in their language), so the evidence says what was shown.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from aiohttp import web

from contracts import ConsentMode
from gateway.accesses_api import subject_accesses
from gateway.consent.bodies import consent_json, opposition_json
from gateway.consent.records import EvidenceChannel
from gateway.consent.registry import ConsentGrant, OppositionGrant
from gateway.console.i18n import translate
from gateway.console.sessions import ConsoleSession
from gateway.console.site import (
    CONSOLE_KEY,
    CONSOLE_PREFIX,
    Console,
    citizen_identifier,
    language_of,
    render,
    require_member,
)
from gateway.errors import InvalidRequestError
from gateway.members import Member, Role

__all__ = ["add_citizen_routes"]

_PAGE: Final = 50
_CONSENTS: Final = f"{CONSOLE_PREFIX}/citizen/consents"


def add_citizen_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/citizen/act", _act_page)
    router.add_post("/citizen/act", _act)
    router.add_get("/citizen/accesses", _accesses)
    router.add_get("/citizen/consents", _consents)
    router.add_post("/citizen/consents", _grant)
    router.add_post("/citizen/consents/{id}/revoke", _revoke)
    router.add_post("/citizen/oppositions", _oppose)
    router.add_post("/citizen/oppositions/{id}/revoke", _withdraw)


def _citizen(request: web.Request) -> tuple[ConsoleSession, Member, str]:
    session, member = require_member(request, Role.CITIZEN_PORTAL)
    if session.subject is None:
        raise web.HTTPSeeOther(location=f"{CONSOLE_PREFIX}/citizen/act")
    return session, member, session.subject


async def _act_page(request: web.Request) -> web.StreamResponse:
    require_member(request, Role.CITIZEN_PORTAL)
    return render(request, "citizen_act.html")


async def _act(request: web.Request) -> web.StreamResponse:
    session, _ = require_member(request, Role.CITIZEN_PORTAL)
    form = await request.post()
    session.subject = citizen_identifier(form.get("document_number"))
    raise web.HTTPSeeOther(location=f"{CONSOLE_PREFIX}/citizen/accesses")


async def _accesses(request: web.Request) -> web.StreamResponse:
    _, _, subject = _citizen(request)
    console = request.app[CONSOLE_KEY]
    cursor = request.query.get("cursor")
    accesses, following = await subject_accesses(console.audit, subject, cursor=cursor, limit=_PAGE)
    names = _names(console)
    for access in accesses:
        access["administration_name"] = names.get(
            access["administration"], access["administration"]
        )
        access["provider_name"] = names.get(access["provider"] or "", access["provider"])
        access["service_title"] = _title(console, access["service"])
    return render(
        request,
        "citizen_accesses.html",
        accesses=accesses,
        next_cursor=following,
        paged=bool(cursor),
    )


def _names(console: Console) -> dict[str, str]:
    return {m.id: m.name for m in console.directory.members}


def _title(console: Console, service_id: str | None) -> str:
    service = console.catalogue.services.get(service_id or "")
    return service.meta.title if service is not None else (service_id or "")


def _explicit_services(console: Console) -> list[dict[str, Any]]:
    return [
        {"id": s.id, "title": s.meta.title, "purposes": list(s.meta.purposes)}
        for s in sorted(console.catalogue.services.values(), key=lambda s: s.id)
        if s.meta.consent_mode is ConsentMode.EXPLICIT
    ]


def _presumed_services(console: Console) -> list[dict[str, Any]]:
    return [
        {"id": s.id, "title": s.meta.title}
        for s in sorted(console.catalogue.services.values(), key=lambda s: s.id)
        if s.meta.consent_mode is ConsentMode.PRESUMED
    ]


def _statement(
    console: Console, language: str, grantee: str | None, service_id: str, purposes: list[str]
) -> str:
    """The plain-words sentence saying what a consent allows."""
    names = _names(console)
    service = console.catalogue.services.get(service_id)
    provider = ", ".join(names.get(p, p) for p in service.meta.providers) if service else ""
    return translate(
        language,
        "consent_allows",
        grantee=names.get(grantee, grantee)
        if grantee
        else translate(language, "any_administration"),
        service=_title(console, service_id),
        provider=provider,
        purposes=", ".join(purposes),
    )


async def _consents(request: web.Request) -> web.StreamResponse:
    _, member, subject = _citizen(request)
    console = request.app[CONSOLE_KEY]
    language = language_of(request)
    now = console.consents.now()
    consents = []
    for consent in await console.consents.consents(member, subject):
        shown = consent_json(consent, now)
        shown["allows"] = " ".join(
            _statement(console, language, consent.grantee, s, list(consent.purposes))
            for s in consent.services
        )
        consents.append(shown)
    oppositions = []
    for opposition in await console.consents.oppositions(member, subject):
        shown = opposition_json(opposition)
        shown["blocks"] = " ".join(
            translate(language, "opposition_blocks", service=_title(console, s))
            for s in opposition.services
        )
        oppositions.append(shown)
    consumers = sorted(
        (m for m in console.directory.members if m.has_role(Role.CONSUMER)), key=lambda m: m.id
    )
    return render(
        request,
        "citizen_consents.html",
        consents=consents,
        oppositions=oppositions,
        explicit=_explicit_services(console),
        presumed=_presumed_services(console),
        consumers=[{"id": m.id, "name": m.name} for m in consumers],
        saved=request.query.get("saved") == "1",
    )


def _field(form: Any, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequestError(f"choose a {name}")
    if len(value) > 200:  # no choice offered is this long
        raise InvalidRequestError(f"the {name} is too long (at most 200 characters)")
    return value.strip()


async def _grant(request: web.Request) -> web.StreamResponse:
    _, member, subject = _citizen(request)
    console = request.app[CONSOLE_KEY]
    form = await request.post()
    service, purpose = _field(form, "service"), _field(form, "purpose")
    grantee = form.get("grantee")
    grantee = grantee.strip() if isinstance(grantee, str) and grantee.strip() else None
    statement = _statement(console, language_of(request), grantee, service, [purpose])
    await console.consents.grant(
        member,
        ConsentGrant(
            subject=subject,
            grantee=grantee,
            services=(service,),
            purposes=(purpose,),
            valid_from=None,
            valid_until=None,
            evidence_channel=EvidenceChannel.CITIZEN_PORTAL,
            evidence_digest="sha256:" + hashlib.sha256(statement.encode("utf-8")).hexdigest(),
        ),
    )
    raise web.HTTPSeeOther(location=f"{_CONSENTS}?saved=1")


async def _revoke(request: web.Request) -> web.StreamResponse:
    _, member, subject = _citizen(request)
    registry = request.app[CONSOLE_KEY].consents
    consent_id = request.match_info["id"][:64]
    # Only the citizen's own: the registry answers 404 for anyone else's.
    await registry.revoke_consent(member, consent_id, subject=subject)
    raise web.HTTPSeeOther(location=f"{_CONSENTS}?saved=1")


async def _oppose(request: web.Request) -> web.StreamResponse:
    _, member, subject = _citizen(request)
    form = await request.post()
    await request.app[CONSOLE_KEY].consents.register_opposition(
        member,
        OppositionGrant(subject=subject, services=(_field(form, "service"),), requesters=()),
    )
    raise web.HTTPSeeOther(location=f"{_CONSENTS}?saved=1")


async def _withdraw(request: web.Request) -> web.StreamResponse:
    _, member, subject = _citizen(request)
    registry = request.app[CONSOLE_KEY].consents
    opposition_id = request.match_info["id"][:64]
    await registry.revoke_opposition(member, opposition_id, subject=subject)
    raise web.HTTPSeeOther(location=f"{_CONSENTS}?saved=1")
