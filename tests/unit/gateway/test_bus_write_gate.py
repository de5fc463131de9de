"""``BusWriteGate`` with no broker at all: once every write has failed for the grace, new
exchanges are refused at once (503 BUS_REFUSING_WRITES, nothing stored or sent) instead
of each waiting for its REQUESTED write's timeout, but for one probe every few seconds;
the first write that succeeds reopens the gate."""

from __future__ import annotations

import pytest

from bus import ProduceHealth
from gateway.bus_write_gate import BusWriteGate
from gateway.errors import BusRefusingWritesError


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _NothingKnown:
    """Replication state unknown (no broker answers its probe): refuses nothing."""

    def latest(self) -> _NothingKnown:
        return self

    def refuses(self, topic: str, key: bytes | None = None) -> bool:
        return False


def _gate(clock: _Clock) -> tuple[BusWriteGate, ProduceHealth]:
    health = ProduceHealth(clock=clock)
    health.record_started()
    gate = BusWriteGate(
        _NothingKnown(),  # type: ignore[arg-type]
        audit_topic="interop.audit",
        produce_health=health,
        failing_grace_s=3.0,
        probe_every_s=2.0,
        clock=clock,
    )
    return gate, health


def _refused(gate: BusWriteGate) -> bool:
    try:
        gate.check("interop.req.x.v1", b"k")
    except BusRefusingWritesError:
        return True
    return False


def test_a_blip_is_not_refused_a_steady_failure_is_but_for_one_probe_in_two_seconds() -> None:
    clock = _Clock()
    gate, health = _gate(clock)
    assert not _refused(gate)
    health.record_failure()
    clock.now += 2.9
    assert not _refused(gate)  # within the grace: a blip, every exchange tries
    clock.now += 0.2
    assert not _refused(gate)  # failing 3.1 s: this one is the probe
    assert [_refused(gate) for _ in range(5)] == [True] * 5  # the rest at once
    clock.now += 1.9
    assert _refused(gate)
    clock.now += 0.2
    assert not _refused(gate)  # the next probe
    assert _refused(gate)


def test_the_first_write_that_succeeds_reopens_the_gate_for_all() -> None:
    clock = _Clock()
    gate, health = _gate(clock)
    health.record_failure()
    clock.now += 10
    assert not _refused(gate)  # probe
    assert _refused(gate)
    health.record_success()  # the probe's writes (or the outbox's) went through
    assert [_refused(gate) for _ in range(5)] == [False] * 5


def test_without_a_producer_health_only_replication_is_looked_at() -> None:
    gate = BusWriteGate(_NothingKnown(), audit_topic="interop.audit")  # type: ignore[arg-type]
    gate.check("interop.req.x.v1", b"k")


@pytest.mark.parametrize("failures", [1, 50])
def test_the_refusal_says_for_how_long(failures: int) -> None:
    clock = _Clock()
    gate, health = _gate(clock)
    for _ in range(failures):
        health.record_failure()
    clock.now += 12
    gate.check("interop.req.x.v1", b"k")  # the probe
    with pytest.raises(BusRefusingWritesError, match="has failed for 12s") as refused:
        gate.check("interop.req.x.v1", b"k")
    assert refused.value.retry_after_s == 5
    assert "nothing was stored or sent" in str(refused.value)
