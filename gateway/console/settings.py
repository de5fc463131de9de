"""The console's settings (``gateway.console`` in the gateway's configuration)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bus.audit import InvalidKeyError, NoteVerifier

__all__ = ["ConsoleSettings"]


class ConsoleSettings(BaseModel):
    """The web console under ``/console/``: sessions and the development demo sign-in."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    """Serve the console (off: ``/console/`` answers 404, the API is unchanged)."""
    idle_timeout_s: Annotated[float, Field(ge=30, le=86_400)] = 15 * 60.0
    """A session unused this long is dead (the next request signs in again)."""
    max_age_s: Annotated[float, Field(ge=60, le=7 * 86_400)] = 8 * 3600.0
    """A session is dead this long after sign-in, however busy."""
    max_sessions: Annotated[int, Field(ge=10, le=1_000_000)] = 10_000
    """Sessions held at once (per replica); past it the least recently used is dropped."""
    checkpoint_key: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    """The audit log's checkpoint verifier key (``name+keyid+base64``, public), with which
    the checkpoint page verifies the latest signed note; absent: the public half of
    ``audit.indexer.signing_key`` when this gateway has it, else the page shows the note
    unverified with the command to verify it offline."""
    demo_citizen_member: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    """DEVELOPMENT ONLY (``interop dev`` sets it): the citizen-portal member that a demo
    citizen acts through after signing in with nothing but a document number. Never set
    it in production: there the portal authenticates the citizen (Cl@ve, eIDAS)."""

    @field_validator("checkpoint_key")
    @classmethod
    def _verifier_key(cls, key: str | None) -> str | None:
        if key is not None:
            try:
                NoteVerifier.parse(key)
            except InvalidKeyError as exc:
                raise ValueError(exc.message) from None
        return key
