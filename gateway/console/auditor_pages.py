"""The auditor's pages: event search (with CSV), an exchange's timeline, the checkpoint.

Role ``auditor``, as ``GET /v1/audit/*``. The search runs the API's own parsing and query
(``gateway.audit_api.event_query`` and ``search_events``) and the CSV is the API's own
(``events_csv``): the export is byte for byte what ``GET /v1/audit/events`` with
``Accept: text/csv`` answers for the same filters. The filters are posted (with the
CSRF token) and kept in the server-side session: a subject's identifier never travels in
a URL, where histories and access logs would keep it; pages and the export carry only
the cursor.
"""

from __future__ import annotations

from typing import Final

from aiohttp import web
from multidict import MultiDict

from bus.audit import AuditError, AuditEventType, IndexedEvent, NoteError, open_checkpoint
from gateway.audit_api import event_json, event_query, events_csv, search_events
from gateway.audit_parts import AuditParts
from gateway.console.charts import CLOSING_TYPES, build_charts
from gateway.console.site import CONSOLE_KEY, CONSOLE_PREFIX, render, require_member
from gateway.console.timeline import exchange_timeline
from gateway.errors import NotFoundError, ServiceUnavailableError
from gateway.members import Role

__all__ = ["SEARCH_FIELDS", "add_auditor_routes"]

SEARCH_FIELDS: Final = (
    "subject",
    "requester",
    "provider",
    "service",
    "purpose",
    "outcome",
    "type",
    "exchange_id",
    "since",
    "until",
)
_PAGE: Final = "50"
_TIMELINE_LIMIT: Final = "1000"
_CHART_WINDOW: Final = 5000
"""The charts count the exchanges that closed in the log's last this many events."""
_EVENTS: Final = f"{CONSOLE_PREFIX}/auditor/events"


def add_auditor_routes(app: web.Application) -> None:
    router = app.router
    router.add_get("/auditor/events", _events)
    router.add_post("/auditor/events", _search)
    router.add_get("/auditor/events.csv", _csv)
    router.add_get("/auditor/exchanges/{exchange_id}", _exchange)
    router.add_get("/auditor/checkpoint", _checkpoint)
    router.add_get("/auditor/charts", _charts)


def _query(search: dict[str, str], cursor: str | None, limit: str) -> MultiDict[str]:
    query: MultiDict[str] = MultiDict(search)
    query["limit"] = limit
    if cursor:
        query["cursor"] = cursor[:200]
    return query


async def _search(request: web.Request) -> web.StreamResponse:
    session, _ = require_member(request, Role.AUDITOR)
    form = await request.post()
    search = {}
    if "clear" not in form:
        for name in SEARCH_FIELDS:
            value = form.get(name)
            if isinstance(value, str) and value.strip():
                search[name] = value.strip()[:256]
    session.search = search
    raise web.HTTPSeeOther(location=_EVENTS)


async def _events(request: web.Request) -> web.StreamResponse:
    session, _ = require_member(request, Role.AUDITOR)
    parts: AuditParts = request.app[CONSOLE_KEY].audit
    cursor = request.query.get("cursor")
    where, limit, after = event_query(_query(session.search, cursor, _PAGE), parts.subject_key)
    events, following = await search_events(parts, where, limit=limit, after=after)
    return render(
        request,
        "auditor_events.html",
        search=session.search,
        events=[event_json(e) for e in events],
        next_cursor=following,
        cursor=cursor or "",
        types=[t.value for t in AuditEventType],
    )


async def _csv(request: web.Request) -> web.StreamResponse:
    session, _ = require_member(request, Role.AUDITOR)
    parts: AuditParts = request.app[CONSOLE_KEY].audit
    query = _query(session.search, request.query.get("cursor"), _PAGE)
    where, limit, after = event_query(query, parts.subject_key)
    events, following = await search_events(parts, where, limit=limit, after=after)
    response = events_csv(events, following)
    response.headers["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
    return response


async def _exchange(request: web.Request) -> web.StreamResponse:
    require_member(request, Role.AUDITOR)
    parts: AuditParts = request.app[CONSOLE_KEY].audit
    exchange_id = request.match_info["exchange_id"][:64]
    query = _query({"exchange_id": exchange_id}, None, _TIMELINE_LIMIT)
    where, limit, after = event_query(query, parts.subject_key)
    events, _ = await search_events(parts, where, limit=limit, after=after)
    if not events:
        raise NotFoundError(f"no audit event for exchange {exchange_id!r}")
    return render(request, "auditor_exchange.html", timeline=exchange_timeline(exchange_id, events))


async def _checkpoint(request: web.Request) -> web.StreamResponse:
    require_member(request, Role.AUDITOR)
    console = request.app[CONSOLE_KEY]
    parts = console.audit
    try:
        latest = await parts.index.latest_checkpoint()
    except AuditError as exc:
        raise ServiceUnavailableError(f"the audit index is unavailable ({exc.code})") from exc
    verified: bool | None = None
    why = ""
    key = console.checkpoint_verifier
    if latest is not None and key is not None:
        try:
            checkpoint = open_checkpoint(latest.note, key, origin=console.checkpoint_origin)
            verified = (
                checkpoint.size == latest.tree_size
                and checkpoint.root_hash == await parts.index.root(latest.tree_size)
            )
            why = "" if verified else "the note does not match the index"
        except NoteError as exc:
            verified, why = False, exc.code
    gateway_url = f"{request.scheme}://{request.host}"
    command = (
        f"interop audit verify --gateway {gateway_url} "
        f"--key {key.key_string() if key is not None else '<the log verifier key>'} "
        "--api-key=$AUDITOR"
    )
    return render(
        request,
        "auditor_checkpoint.html",
        checkpoint=latest,
        verified=verified,
        why=why,
        command=command,
    )


async def _charts(request: web.Request) -> web.StreamResponse:
    require_member(request, Role.AUDITOR)
    parts: AuditParts = request.app[CONSOLE_KEY].audit
    try:
        size = (await parts.index.state()).tree_size
    except AuditError as exc:
        raise ServiceUnavailableError(f"the audit index is unavailable ({exc.code})") from exc
    query: MultiDict[str] = MultiDict(
        [("type", kind) for kind in CLOSING_TYPES]
        + [("from_index", str(max(0, size - _CHART_WINDOW))), ("limit", _TIMELINE_LIMIT)]
    )
    where, limit, after = event_query(query, parts.subject_key)
    events: list[IndexedEvent] = []
    while True:  # at most _CHART_WINDOW / limit pages
        page, following = await search_events(parts, where, limit=limit, after=after)
        events.extend(page)
        if following is None or not page:
            break
        after = page[-1].leaf_index
    return render(request, "auditor_charts.html", charts=build_charts(events), window=_CHART_WINDOW)
