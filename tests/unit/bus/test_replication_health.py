"""How ``summarise`` classifies the bus's partitions: healthy, degraded, refusing writes."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner

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
    assert status == ReplicationStatus(
        ReplicationState.HEALTHY, partitions=1, partition_counts={"interop.audit": 1}
    )
    assert not status.refuses("interop.audit")


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


def test_replicas_on_brokers_that_do_not_answer_are_not_in_sync() -> None:
    """Two of three combined nodes lost: the controller quorum went with them, so the
    survivor's metadata still names a dead node as in sync and as leader. Counted against
    the brokers that answer, every partition refuses writes."""
    described = [
        _topic("interop.audit", (1, [1, 2, 3], [1, 2])),
        _topic("interop.req.x.v1", (2, [2, 1, 3], [2, 1]), (1, [1, 2, 3], [1, 2])),
    ]
    trusting = summarise(described, {"interop.audit": 2, "interop.req.x.v1": 2})
    assert trusting.state is ReplicationState.DEGRADED
    status = summarise(described, {"interop.audit": 2, "interop.req.x.v1": 2}, live={1})
    assert status.state is ReplicationState.REFUSING
    assert (status.below_min_isr, status.offline, status.under_replicated) == (2, 1, 3)
    assert status.refusing == {
        ("interop.audit", 0),
        ("interop.req.x.v1", 0),
        ("interop.req.x.v1", 1),
    }


def test_refuses_the_partition_a_key_goes_to_as_the_producer_picks_it() -> None:
    """Only the partition the producer's default partitioner gives a key refuses it; a
    topic without a refusing partition, or an unknown one, refuses nothing."""
    status = summarise(
        [
            _topic(
                "interop.req.x.v1",
                (1, [1, 2, 3], [1, 2, 3]),
                (2, [2, 1, 3], [2]),
                (3, [3, 1, 2], [3, 1, 2]),
            ),
            _topic("interop.audit", (1, [1, 2, 3], [1, 2, 3])),
        ],
        {"interop.req.x.v1": 2, "interop.audit": 2},
    )
    keys = [f"subject-{i}".encode() for i in range(40)]
    partition_of = {key: DefaultPartitioner()(key, [0, 1, 2], [0, 1, 2]) for key in keys}
    refused = {key for key in keys if status.refuses("interop.req.x.v1", key)}
    assert refused == {key for key, partition in partition_of.items() if partition == 1}
    assert 0 < len(refused) < len(keys)
    assert status.refuses("interop.req.x.v1")
    assert not status.refuses("interop.audit")
    assert not status.refuses("interop.req.unknown.v1", b"subject-1")


def test_an_unknown_state_refuses_nothing() -> None:
    """The cluster did not answer: the gate lets the request try (the broker check and
    the producer's own errors tell), rather than refuse on no evidence."""
    unknown = ReplicationStatus(ReplicationState.UNKNOWN)
    assert not unknown.refuses("interop.audit")
    assert not unknown.refuses("interop.audit", b"key")
