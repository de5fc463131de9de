"""A gateway replica's Kafka side, started in steps: at once when the broker answers,
in the background when it does not.

A gateway that exited on "Unable to bootstrap" at start left clients with "connection
refused" and recovery to its supervisor's back-off, with no word on why (found from
outside: a gateway restarted during a broker outage). Now the first attempt runs during
start-up as before, so a replica next to a live broker is fully started before it takes
a request, and a configuration error still stops it at once. When the broker does not
answer (refused at once, or no answer within 5 s: a hung broker), the replica listens
anyway:

- ``/healthz`` is 200 (the process is alive; restarting it would not bring the broker);
- ``/readyz`` is 503 naming the wait;
- every other request is refused before anything is stored or sent: 503
  ``GATEWAY_STARTING`` with ``Retry-After``;
- the remaining steps are tried again with back-off (``bus/broker_wait.py``), each from
  where the last attempt stopped, until they are all done or the replica is stopped.

An error other than "no broker" found in the background (the reply partitions missing,
say) ends the replica as it would have at start: ``failed`` is set and ``interop gateway``
exits with it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bus import BrokerWait, cancel_and_wait, start_or_keep_trying
from contracts.errors import InteropError
from gateway.errors import GatewayStartingError

__all__ = ["BusStartup", "StartStep", "startup_gate_middleware"]

_log = structlog.get_logger(__name__)

StartStep = Callable[[contextlib.AsyncExitStack], Awaitable[None]]
"""Starts one part and pushes its stop onto the stack (stopped in reverse order)."""

_COMPONENT: Final = "gateway"


class BusStartup:
    """Whether this replica's Kafka side has started, and the background start if not."""

    def __init__(self, *, first_attempt_s: float | None = None) -> None:
        self.wait = BrokerWait()
        self.ready = asyncio.Event()
        """Set once every step has run."""
        self.failure: Exception | None = None
        """Set with ``failed``: the error the process should end with."""
        self.failed = asyncio.Event()
        self._first_attempt_s = first_attempt_s
        self._done = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self, steps: Sequence[StartStep], running: contextlib.AsyncExitStack) -> None:
        """Run ``steps`` in order; when the broker does not answer (at once, or within a
        few seconds), return and go on in the background. Any other error is raised (the
        replica does not start)."""
        within = {} if self._first_attempt_s is None else {"within_s": self._first_attempt_s}
        trying = await start_or_keep_trying(
            lambda: self._run(steps, running), component=_COMPONENT, wait=self.wait, **within
        )
        if trying is None:
            return
        _log.warning(
            "gateway_waiting_for_broker",
            error=self.wait.last_error,
            detail="serving /healthz; /readyz and every other request answer 503 until then",
        )
        self._task = asyncio.create_task(self._in_background(trying), name="gateway-bus-startup")

    async def _run(self, steps: Sequence[StartStep], running: contextlib.AsyncExitStack) -> None:
        while self._done < len(steps):
            await steps[self._done](running)
            self._done += 1  # a later attempt resumes after the steps already done
        self.ready.set()

    @property
    def started(self) -> bool:
        return self.ready.is_set()

    async def _in_background(self, trying: asyncio.Task[None]) -> None:
        try:
            await trying
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failure = exc
            code = exc.code if isinstance(exc, InteropError) else type(exc).__name__
            _log.error("gateway_start_failed", error_code=code, error=str(exc))
            self.failed.set()
            return
        _log.info("gateway_bus_started", attempts=self.wait.attempts + 1)

    async def stop(self) -> None:
        """Give up a background start still waiting (safe to call twice)."""
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def check(self) -> None:
        """Raise ``GatewayStartingError`` until every step has run."""
        if not self.started:
            raise GatewayStartingError(
                f"this gateway replica is {self.wait.describe()}: nothing was stored or "
                "sent; retry with the same Idempotency-Key"
            )


def startup_gate_middleware(startup: BusStartup, *, open_paths: frozenset[str]) -> Middleware:
    """Refuse every request but ``open_paths`` (health, readiness, metrics) until the
    replica's Kafka side has started: nothing stored, nothing sent."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not startup.started and request.path not in open_paths:
            startup.check()
        return await handler(request)

    return middleware
