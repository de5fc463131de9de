"""When a signed record may say it was signed: the bounds around a key's window.

A verifier accepts a signature made with a key that was valid at the time the record
states (``ce_time``, an audit event's ``time``). That time is written by the signer, so a
key past its ``not_after`` (retired in a rotation, or leaked and let lapse) could still
sign records dated inside its old window. Each check here ties the stated time to
something the holder of an old key cannot move:

* a **request** carries a deadline at most ``MAX_REQUEST_LIFETIME`` after its time, and a
  connector serves nothing past its deadline; a request dated inside an old window is
  therefore already expired, so a retired gateway key is refused once
  ``MAX_REQUEST_LIFETIME`` has passed since its ``not_after``;
* a **reply** is no older than the exchange it answers (the gateway stored when it was
  created): a provider key retired before the exchange began cannot answer it;
* a provider's **audit step** (DELIVERED, RESPONDED, REJECTED) is no older than its
  exchange's REQUESTED, which the gateway signed and wrote first;
* **any audit event** is checked against the time the broker appended it to the audit
  topic (``message.timestamp.type=LogAppendTime``, set by provisioning): no producer can
  choose that time. A key retired more than ``RETIRED_KEY_GRACE`` before it gets nothing
  into the log, whatever time the event states. (Nothing refuses an event dated after
  that time: a refused audit event is quarantined for good, and a broker whose clock
  drifted would then keep every member's events out of the log.)

Every bound allows ``CLOCK_SKEW`` between the hosts' clocks; no record may claim a time
further ahead of the verifier's clock than that either.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

__all__ = [
    "CLOCK_SKEW",
    "MAX_REQUEST_LIFETIME",
    "MAX_REQUEST_LIFETIME_S",
    "RETIRED_KEY_GRACE",
    "reply_time_problem",
    "request_time_problem",
    "retired_key_problem",
    "step_time_problem",
]

CLOCK_SKEW: Final = timedelta(minutes=5)
"""How far apart the clocks of two members' hosts may be (NTP keeps them far closer)."""

MAX_REQUEST_LIFETIME_S: Final = 3600
"""The longest a request may wait for its reply: bounds every requester's timeout (the
gateway's ``max_deadline_s`` is lower still)."""
MAX_REQUEST_LIFETIME: Final = timedelta(seconds=MAX_REQUEST_LIFETIME_S)

RETIRED_KEY_GRACE: Final = timedelta(hours=24)
"""How long after its ``not_after`` an audit event signed with a key may still reach the
broker: a closing event owed across a broker outage is written when the broker is back."""


def _ahead(time: datetime, now: datetime, what: str) -> str | None:
    if time > now + CLOCK_SKEW:
        ahead_s = (time - now).total_seconds()
        return f"{what} is {ahead_s:.0f} s ahead of this host's clock"
    return None


def request_time_problem(time: datetime, deadline: datetime | None, now: datetime) -> str | None:
    """Why a request's ``ce_time`` and deadline cannot be a gateway's; None when they can."""
    if deadline is None:
        return "a request must carry a deadline"
    if deadline - time > MAX_REQUEST_LIFETIME:
        return f"the deadline is more than {MAX_REQUEST_LIFETIME_S} s after the request's time"
    return _ahead(time, now, "the request's time")


def reply_time_problem(time: datetime, exchange_created: datetime, now: datetime) -> str | None:
    """Why a reply's ``ce_time`` cannot answer an exchange created at ``exchange_created``;
    None when it can."""
    if time < exchange_created - CLOCK_SKEW:
        return "the reply is dated before its exchange was created"
    return _ahead(time, now, "the reply's time")


def step_time_problem(time: datetime, requested: datetime) -> str | None:
    """Why a provider's audit step dated ``time`` cannot follow a REQUESTED dated
    ``requested``; None when it can."""
    if time < requested - CLOCK_SKEW:
        return "the step is dated before its exchange's REQUESTED"
    return None


def retired_key_problem(key_not_after: datetime | None, appended: datetime) -> str | None:
    """Why a key whose window ends at ``key_not_after`` (None: open) cannot have signed an
    audit event the broker appended at ``appended``; None when it can."""
    if key_not_after is not None and appended > key_not_after + RETIRED_KEY_GRACE:
        hours = RETIRED_KEY_GRACE.total_seconds() / 3600
        return f"retired more than {hours:.0f} h before the broker received the event"
    return None
