"""How ``summarise`` classifies the bus's partitions: healthy, degraded, refusing writes."""

from __future__ import annotations

from typing import Any

from bus.replication_health import ReplicationState, ReplicationStatus, summarise


def _topic(name: str, *partitions: tuple[int, list[int], list[int]]) -> dict[str, Any]:
    return {
        "topic": name,
        "error_code": 0,
        "partitions": [
            {"partition": i, "leader": leader, "replicas": replicas, "isr": isr}
            for i, (leader, replicas, isr) in enumerate(partitions)
        ],
    }


def test_every_replica_in_sync_is_healthy() -> None:
    """Three replicas all in sync on every partition: healthy, nothing counted."""
    status = summarise([_topic("interop.audit", (1, [1, 2, 3], [1, 2, 3]))], {"interop.audit": 2})
    assert status == ReplicationStatus(ReplicationState.HEALTHY, partitions=1)


def test_one_replica_missing_is_degraded_but_accepts_writes() -> None:
    """A lost broker leaves two of three in sync: under-replicated, not below min ISR 2."""
    status = summarise(
        [
            _topic("interop.audit", (1, [1, 2, 3], [1, 3])),
            _topic("interop.req.x.v1", (3, [1, 2, 3], [1, 2, 3]), (1, [2, 1, 3], [1, 3])),
        ],
        {"interop.audit": 2, "interop.req.x.v1": 2},
    )
    assert status.state is ReplicationState.DEGRADED
    assert (status.partitions, status.under_replicated, status.below_min_isr) == (3, 2, 0)
    assert "2 of 3 partitions under-replicated" in status.detail()


def test_isr_below_min_or_no_leader_refuses_writes() -> None:
    """One in-sync replica under min ISR 2, or a partition without leader: refusing."""
    below = summarise([_topic("interop.audit", (1, [1, 2, 3], [1]))], {"interop.audit": 2})
    assert (below.state, below.below_min_isr) == (ReplicationState.REFUSING, 1)
    leaderless = summarise([_topic("interop.audit", (-1, [1, 2, 3], [2]))], {})
    assert (leaderless.state, leaderless.offline) == (ReplicationState.REFUSING, 1)


def test_a_single_replica_topic_with_min_isr_one_is_healthy() -> None:
    """The single-broker dev layout (RF 1, min ISR 1, the default) is not degraded."""
    status = summarise([_topic("interop.audit", (1, [1], [1]))], {})
    assert status.state is ReplicationState.HEALTHY
