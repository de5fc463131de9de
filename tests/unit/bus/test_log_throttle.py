"""Repeated aiokafka errors: the first one logged, the rest summarised per window."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator

import pytest

from bus.admin import probe_cluster
from bus.errors import BrokerUnavailableError
from bus.log_throttle import RepeatedLogFilter, install_log_throttle, quiet_client_errors


def _record(name: str, msg: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, None, None)


def test_a_storm_of_one_kind_costs_one_line_per_window() -> None:
    """4,000 identical connect errors in 20 s (a broker down under load) pass as 4 lines;
    each line after the first says how many it stood for."""
    now = [0.0]
    throttle = RepeatedLogFilter(window_s=5.0, clock=lambda: now[0])
    passed = []
    for n in range(4000):
        now[0] = n * 0.005
        record = _record("aiokafka.conn", "Unable connect to node with id %s: %s")
        if throttle.filter(record):
            passed.append(record)
    assert len(passed) == 4
    assert "suppressed" not in passed[0].__dict__
    assert [r.__dict__["suppressed"] for r in passed[1:]] == [999, 999, 999]


def test_other_kinds_loggers_and_levels_are_not_throttled() -> None:
    """A different message, our own loggers and INFO records always pass."""
    throttle = RepeatedLogFilter(window_s=5.0, clock=lambda: 0.0)
    assert throttle.filter(_record("aiokafka.conn", "a"))
    assert throttle.filter(_record("aiokafka.conn", "b"))
    assert not throttle.filter(_record("aiokafka.conn", "a"))
    assert throttle.filter(_record("gateway.exchanges", "a"))
    assert throttle.filter(_record("gateway.exchanges", "a"))
    assert throttle.filter(_record("aiokafka.conn", "a", logging.INFO))


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def aiokafka_lines() -> Iterator[list[str]]:
    """What reaches a handler installed the way ``configure_logging`` installs it."""
    handler = _Collect()
    install_log_throttle(handler)
    logger = logging.getLogger("aiokafka.probe-test")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler.messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = True


async def test_overlapping_quiet_probes_leave_the_client_heard(
    aiokafka_lines: list[str],
) -> None:
    """Two probes whose quiet scopes overlap and end in either order: afterwards the
    client's errors are logged again. (Raising the logger's level, as before, left it
    raised for good when the scopes ended out of order.)"""
    first_in, second_in, first_may_leave = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def first() -> None:
        with quiet_client_errors():
            first_in.set()
            await second_in.wait()
            await first_may_leave.wait()

    async def second() -> None:
        await first_in.wait()
        with quiet_client_errors():
            second_in.set()
            first_may_leave.set()
            await asyncio.sleep(0)  # first leaves while second is still inside

    await asyncio.gather(first(), second())
    assert logging.getLogger("aiokafka").level == logging.NOTSET
    logging.getLogger("aiokafka.probe-test").error("Unable connect to node %s", 1)
    assert aiokafka_lines == ["Unable connect to node 1"]


async def test_a_probe_hides_only_its_own_client_errors(aiokafka_lines: list[str]) -> None:
    """While a probe is quiet, a producer's error in another task is still logged; the
    probe's own (and that of a task the probe starts) is not."""
    logger = logging.getLogger("aiokafka.probe-test")
    probe_inside, producer_done = asyncio.Event(), asyncio.Event()

    async def probe() -> None:
        with quiet_client_errors():
            probe_inside.set()
            logger.error("probe: connection refused")
            await asyncio.create_task(_log(logger, "probe's background task: refused"))
            await producer_done.wait()

    async def producer() -> None:
        await probe_inside.wait()
        logger.error("producer: send failed")
        producer_done.set()

    await asyncio.gather(probe(), producer())
    assert aiokafka_lines == ["producer: send failed"]


async def _log(logger: logging.Logger, message: str) -> None:
    logger.error(message)


async def test_a_refused_probe_logs_no_client_error_and_says_why(
    aiokafka_lines: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """A real probe of a port nothing listens on: BrokerUnavailableError names the
    address, and none of aiokafka's connect errors reach a configured handler."""
    root_handler = _Collect()
    install_log_throttle(root_handler)
    logging.getLogger().addHandler(root_handler)
    try:
        with socket.socket() as unused:  # bound, not listening: connects are refused
            unused.bind(("127.0.0.1", 0))
            address = f"127.0.0.1:{unused.getsockname()[1]}"
            with pytest.raises(BrokerUnavailableError, match=address):
                await probe_cluster(address, timeout_s=1.0)
    finally:
        logging.getLogger().removeHandler(root_handler)
    assert any(r.name.startswith("aiokafka") for r in caplog.records), "nothing was hidden"
    assert not [m for m in root_handler.messages if "connect" in m.lower()]
    logging.getLogger("aiokafka.probe-test").error("heard after the probe")
    assert aiokafka_lines == ["heard after the probe"]
