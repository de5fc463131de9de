"""A batch across a broker outage (issue #17): it pauses, resumes by itself, loses nothing.

The whole system runs as real processes (``interop dev``). A 160-item batch runs at the
default per-provider rate (20 items/s); once 40 items are sent the broker is stopped for
12 s (``interop kafka stop``, then ``start`` on the same port and data, as an operator
would). While it is down an item's audit write or send fails: the worker pauses the batch
(``interop_gateway_batch_pauses_total``) and marks nothing failed for the gateway's own
trouble; when the broker is back it resumes, without a restart of any process.

Reconciled item by item: every item ends, with one exchange of its own and at most one
REQUESTED event for it; an item ends found with the municipal register's data, except an
exchange in flight when the broker stopped, which may honestly end timed out (its reply
could not arrive before its deadline); none ends failed or stays pending.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import aiohttp
import pytest

from tests.faults.batches import (
    batch_results,
    batch_state,
    finished,
    residence_batch,
    sent_at_least,
    submit_batch,
    wait_batch,
)
from tests.faults.reconcile import audit_events_once_requested, audit_mark, registry_mismatch
from tests.faults.report import CaseReport
from tests.faults.system import System

pytestmark = pytest.mark.timeout(240)

_ITEMS = 160
_SENT_BEFORE_STOP = 40
_OUTAGE_S = 12.0
_IN_FLIGHT_BOUND = 16
"""At most this many items may end timed out: a batch's concurrent senders at the stop."""


async def _pauses(system: System) -> float:
    """interop_gateway_batch_pauses_total, summed over its labels."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(f"{system.url}/metrics") as response,
    ):
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("interop_gateway_batch_pauses_total")
    )


async def test_a_batch_pauses_through_a_broker_outage_and_resumes(
    system: System, case: CaseReport
) -> None:
    """Broker stopped with a quarter of the batch sent: the batch pauses, then finishes
    after the broker's return with every item reconciled and nothing sent twice."""
    mark = await audit_mark(system)
    pauses_before = await _pauses(system)
    output_before = len(system.output)
    batch_id = await submit_batch(system, residence_batch(system, _ITEMS), "batch-outage-1")
    case.sent = _ITEMS
    await wait_batch(system, batch_id, sent_at_least(_SENT_BEFORE_STOP), timeout_s=60)
    await asyncio.to_thread(system.kafka, "stop")
    at_stop = await batch_state(system, batch_id)
    await asyncio.sleep(_OUTAGE_S)  # the fault itself: the broker stays down
    await asyncio.to_thread(system.kafka, "start")
    back_at = time.monotonic()
    assert at_stop is not None
    assert at_stop["counts"]["pending"] > 0, "the batch was done before the broker stopped"
    await wait_batch(system, batch_id, finished, timeout_s=120, poll_s=0.5)
    case.ready_s = time.monotonic() - back_at
    case.notes.append(f"batch finished {case.ready_s:.0f}s after the broker's return")
    assert await _pauses(system) > pauses_before, "the batch never paused in the outage"
    restarts = [line for line in system.output[output_before:] if "exited with status" in line]
    assert not restarts, f"a process needed a restart to recover: {restarts}"

    lines = await batch_results(system, batch_id)
    assert [line["index"] for line in lines] == list(range(_ITEMS))
    ids = [line["exchange_id"] for line in lines]
    assert None not in ids
    assert len(set(ids)) == len(ids), "an item with two exchanges, or two items with one"
    statuses = Counter(line["status"] for line in lines)
    assert set(statuses) <= {"found", "timed_out"}, statuses
    assert statuses["timed_out"] <= _IN_FLIGHT_BOUND, statuses
    wrong = {
        line["index"]: why
        for line in lines
        if line["status"] == "found"
        and (why := registry_mismatch(system.people[line["index"]], line["exchange"]))
    }
    assert not wrong, list(wrong.items())[:5]
    case.ok = statuses["found"]
    case.notes.append(f"timed out (in flight at the stop): {statuses['timed_out']}")

    # One REQUESTED per item's exchange, once the indexer has caught up with them all.
    wanted = set(ids)
    events, _waited_s = await audit_events_once_requested(system, mark, wanted)
    requested = Counter(
        e["exchange_id"] for e in events if e["type"] == "REQUESTED" and e["exchange_id"] in wanted
    )
    assert set(requested) == wanted, f"{len(wanted - set(requested))} without REQUESTED"
    twice = [exchange_id for exchange_id, n in requested.items() if n > 1]
    case.duplicated = len(twice)
    assert not twice, twice[:5]
