"""The console's sessions: server-side, random ids, expiry, CSRF tokens.

A session id is 32 random bytes (``secrets.token_urlsafe``): unguessable, so it needs no
signature, and it names a record held here, never data in the cookie. The record holds
the member, the citizen a portal session acts for (in memory only, never written), the
session's CSRF token and the last search's filters (so a subject's identifier never
travels in a URL). A session dies ``idle_timeout_s`` after its last use, ``max_age_s``
after sign-in, or at sign-out (``end``): its id then opens nothing. Signing in replaces
the id (no session fixation).

The store is per replica: with several replicas the load balancer keeps a browser on one
(sticky sessions); a lost replica signs its users out, which is the safe failure.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from aiohttp import web

__all__ = ["COOKIE_NAME", "CSRF_FIELD", "ConsoleSession", "SessionStore"]

COOKIE_NAME: Final = "interop_console"
CSRF_FIELD: Final = "csrf_token"
_COOKIE_PATH: Final = "/console/"


@dataclass
class ConsoleSession:
    """One browser's session (``member_id`` None: not signed in yet)."""

    id: str
    csrf_token: str
    created: float
    last_used: float
    member_id: str | None = None
    subject: str | None = field(default=None, repr=False)
    """The citizen a citizen-portal session acts for (their identifier: never logged)."""
    demo: bool = False
    """Signed in through the development demo citizen sign-in."""
    search: dict[str, str] = field(default_factory=dict, repr=False)
    """The auditor's last event search (may hold a subject identifier)."""

    def csrf_ok(self, token: str | None) -> bool:
        """Whether ``token`` is this session's CSRF token (constant-time comparison)."""
        return token is not None and hmac.compare_digest(token, self.csrf_token)


class SessionStore:
    """The sessions of this replica, bounded, with idle and absolute expiry."""

    def __init__(
        self,
        *,
        idle_timeout_s: float,
        max_age_s: float,
        max_sessions: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._idle = idle_timeout_s
        self._max_age = max_age_s
        self._max = max_sessions
        self._clock = clock
        self._sessions: OrderedDict[str, ConsoleSession] = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def new(self) -> ConsoleSession:
        """A fresh, anonymous session (it carries the sign-in form's CSRF token)."""
        now = self._clock()
        session = ConsoleSession(
            id=secrets.token_urlsafe(32),
            csrf_token=secrets.token_urlsafe(32),
            created=now,
            last_used=now,
        )
        self._sessions[session.id] = session
        while len(self._sessions) > self._max:
            self._sessions.popitem(last=False)
        return session

    def get(self, session_id: str | None) -> ConsoleSession | None:
        """The live session with this id (touched), or None (unknown, expired, ended)."""
        if not session_id or len(session_id) > 100:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_used > self._idle or now - session.created > self._max_age:
            del self._sessions[session_id]
            return None
        session.last_used = now
        self._sessions.move_to_end(session_id)
        return session

    def sign_in(
        self,
        old: ConsoleSession | None,
        member_id: str,
        *,
        subject: str | None = None,
        demo: bool = False,
    ) -> ConsoleSession:
        """A new session for ``member_id`` under a new id; the old one is ended."""
        if old is not None:
            self.end(old.id)
        session = self.new()
        session.member_id = member_id
        session.subject = subject
        session.demo = demo
        return session

    def end(self, session_id: str) -> None:
        """Sign-out: the id opens nothing from now on."""
        self._sessions.pop(session_id, None)

    def set_cookie(
        self, response: web.StreamResponse, session: ConsoleSession, *, secure: bool
    ) -> None:
        """The session cookie: HttpOnly, SameSite=Strict, only under /console/, Secure on TLS."""
        response.set_cookie(
            COOKIE_NAME,
            session.id,
            path=_COOKIE_PATH,
            httponly=True,
            samesite="Strict",
            secure=secure,
            max_age=int(self._max_age),
        )

    @staticmethod
    def clear_cookie(response: web.StreamResponse) -> None:
        response.del_cookie(COOKIE_NAME, path=_COOKIE_PATH)
