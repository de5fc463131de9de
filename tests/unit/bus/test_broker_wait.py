"""``start_when_broker_answers`` and ``unless_stopped``: a process that starts before its
broker waits for it; anything else still ends it at once."""

from __future__ import annotations

import asyncio

import pytest
import structlog

from bus.broker_wait import BrokerWait, start_when_broker_answers, unless_stopped
from bus.errors import BrokerUnavailableError, KafkaAccessDeniedError


async def test_no_broker_is_waited_out_with_one_line_per_attempt() -> None:
    attempts: list[int] = []

    async def start() -> str:
        attempts.append(len(attempts))
        if len(attempts) < 3:
            raise BrokerUnavailableError("starting the producer: Unable to bootstrap")
        return "started"

    wait = BrokerWait()
    log = structlog.testing.CapturingLogger()
    started = await start_when_broker_answers(
        start, component="t", wait=wait, first_retry_s=0.001, max_retry_s=0.002, log=log
    )
    logs = [{"event": call.args[0], **call.kwargs} for call in log.calls]
    assert started == "started"
    assert len(attempts) == 3
    assert (wait.attempts, wait.waiting) == (2, False)
    waiting = [line for line in logs if line["event"] == "waiting_for_broker"]
    assert [line["attempt"] for line in waiting] == [1, 2]
    assert [line["retry_in_s"] for line in waiting] == [0.001, 0.002]
    assert waiting[0]["error_code"] == "BROKER_UNAVAILABLE"
    assert [line["attempts"] for line in logs if line["event"] == "broker_answered"] == [3]


async def test_while_waiting_readiness_is_told_why() -> None:
    wait = BrokerWait()
    calls: list[int] = []
    second_attempt, release = asyncio.Event(), asyncio.Event()

    async def start() -> None:
        calls.append(1)
        if len(calls) == 2:
            second_attempt.set()
        if not release.is_set():
            raise BrokerUnavailableError("nobody answers")

    task = asyncio.create_task(
        start_when_broker_answers(start, component="t", wait=wait, first_retry_s=0.001)
    )
    await asyncio.wait_for(second_attempt.wait(), timeout=5)
    assert wait.waiting
    assert wait.describe().startswith("waiting for the Kafka broker since start-up")
    release.set()
    await asyncio.wait_for(task, timeout=5)
    assert not wait.waiting


async def test_a_refused_login_is_not_waited_out() -> None:
    attempts: list[int] = []

    async def start() -> None:
        attempts.append(1)
        raise KafkaAccessDeniedError("SASL login as 'x' failed")

    with pytest.raises(KafkaAccessDeniedError):
        await start_when_broker_answers(start, component="t", first_retry_s=0.001)
    assert attempts == [1]


async def test_unless_stopped_returns_the_result_or_cancels_the_work() -> None:
    stop = asyncio.Event()

    async def quick() -> int:
        return 7

    assert await unless_stopped(quick(), stop) == (True, 7)

    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    asyncio.get_running_loop().call_later(0.01, stop.set)
    assert await asyncio.wait_for(unless_stopped(forever(), stop), timeout=5) == (False, None)
    assert cancelled.is_set()


async def test_unless_stopped_raises_the_works_error() -> None:
    async def failing() -> None:
        raise KafkaAccessDeniedError("refused")

    with pytest.raises(KafkaAccessDeniedError):
        await unless_stopped(failing(), asyncio.Event())
