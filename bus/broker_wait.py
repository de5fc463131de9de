"""Start a Kafka client when the broker is not up yet: wait for it, do not exit.

A whole site restarted at once (a power cut, a node drained) starts the gateway, its
connectors and the audit indexer next to a broker that needs seconds to a minute to
answer. A process that exits on its first "Unable to bootstrap" leaves recovery to
whatever supervises it, with its own back-off, and tells nobody why. Each process instead
keeps its health endpoint up (live, not ready, naming the broker), retries with back-off,
and logs one line per attempt.

Only ``BrokerUnavailableError`` is waited out: nobody answers, which time can fix. A
refused login, an untrusted certificate or a missing partition is a configuration
error, and the process still ends with it at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

import structlog

from bus.errors import BrokerUnavailableError
from bus.tasks import cancel_and_wait

__all__ = ["BrokerWait", "start_or_keep_trying", "start_when_broker_answers", "unless_stopped"]

_log = structlog.get_logger(__name__)
_FIRST_RETRY_S: Final = 0.5
_MAX_RETRY_S: Final = 10.0
_FIRST_ATTEMPT_S: Final = 5.0
"""How long a process's start-up waits for the first attempt before serving without it."""

T = TypeVar("T")


class BrokerWait:
    """What a process waiting for its broker at start tells its readiness endpoint."""

    def __init__(self) -> None:
        self.attempts = 0
        self.last_error: str | None = None
        """The last attempt's error, for readiness and the 503 a caller gets meanwhile."""

    @property
    def waiting(self) -> bool:
        return self.last_error is not None

    def describe(self) -> str:
        return f"waiting for the Kafka broker since start-up ({self.attempts} attempts)"

    def failed(
        self, exc: BrokerUnavailableError, *, component: str, retry_in_s: float, log: Any
    ) -> None:
        """One more attempt found no broker: counted, kept for readiness, logged."""
        self.attempts += 1
        self.last_error = str(exc)
        log.warning(
            "waiting_for_broker",
            component=component,
            attempt=self.attempts,
            retry_in_s=retry_in_s,
            error_code=exc.code,
            error=str(exc),
        )


async def start_when_broker_answers(
    start: Callable[[], Awaitable[T]],
    *,
    component: str,
    wait: BrokerWait | None = None,
    first_retry_s: float = _FIRST_RETRY_S,
    max_retry_s: float = _MAX_RETRY_S,
    log: Any = None,
) -> T:
    """``await start()``, again after a back-off (doubling up to ``max_retry_s``) while it
    raises ``BrokerUnavailableError``; any other error is raised at once. Cancel the
    caller to give up (a stop signal): ``unless_stopped`` does that."""
    wait = wait or BrokerWait()
    log = _log if log is None else log
    delay = first_retry_s
    while True:
        try:
            started = await start()
        except BrokerUnavailableError as exc:
            wait.failed(exc, component=component, retry_in_s=delay, log=log)
            await asyncio.sleep(delay)
            delay = min(2 * delay, max_retry_s)
            continue
        if wait.attempts:
            log.info("broker_answered", component=component, attempts=wait.attempts + 1)
        wait.last_error = None
        return started


async def start_or_keep_trying(
    start: Callable[[], Awaitable[None]],
    *,
    component: str,
    wait: BrokerWait,
    within_s: float = _FIRST_ATTEMPT_S,
    first_retry_s: float = _FIRST_RETRY_S,
) -> asyncio.Task[None] | None:
    """One attempt, waited for up to ``within_s``: None when it started; its error when
    it failed otherwise than "no broker". Else a task that finishes that attempt and
    keeps trying (``start_when_broker_answers``); the caller goes on meanwhile.

    The bound is for a broker that accepts connections and never answers (stopped with
    SIGSTOP, or hung): an attempt then lasts the client's request timeout (30 s), and a
    process that waited for it would not answer its own health checks meanwhile."""
    first = asyncio.ensure_future(start())
    try:
        await asyncio.wait({first}, timeout=within_s)
    except BaseException:
        first.cancel()
        raise
    if first.done() and not isinstance(first.exception(), BrokerUnavailableError):
        first.result()  # started, or a configuration error raised at once
        return None
    if not first.done():
        wait.last_error = f"no answer from the broker within {within_s:g}s"

    async def keep_trying() -> None:
        try:
            await first
            return
        except BrokerUnavailableError as exc:
            wait.failed(exc, component=component, retry_in_s=first_retry_s, log=_log)
        await asyncio.sleep(first_retry_s)
        await start_when_broker_answers(
            start, component=component, wait=wait, first_retry_s=first_retry_s
        )

    return asyncio.create_task(keep_trying(), name=f"{component}-startup")


async def unless_stopped(work: Awaitable[T], stop: asyncio.Event) -> tuple[bool, T | None]:
    """Run ``work`` until it ends or ``stop`` is set (then it is cancelled): ``(True,
    result)`` when it ended, ``(False, None)`` when stopped first. Its error is raised."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()  # the caller itself was cancelled: so is the work
        raise
    finally:
        stopping.cancel()
    if task.done():
        return True, task.result()
    await cancel_and_wait(task)
    return False, None
