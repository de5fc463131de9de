"""Repeated aiokafka errors: the first one logged, the rest summarised per window."""

from __future__ import annotations

import logging

from bus.log_throttle import RepeatedLogFilter


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
