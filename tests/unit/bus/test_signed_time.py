"""The bounds on the time a signed record states (``bus.signed_time``), at their edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bus.signed_time import (
    CLOCK_SKEW,
    MAX_REQUEST_LIFETIME,
    RETIRED_KEY_GRACE,
    reply_time_problem,
    request_time_problem,
    retired_key_problem,
    step_time_problem,
)

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
TICK = timedelta(milliseconds=1)


def test_a_request_deadline_may_lie_at_most_the_longest_lifetime_after_its_time() -> None:
    assert request_time_problem(NOW, NOW + MAX_REQUEST_LIFETIME, NOW) is None
    problem = request_time_problem(NOW, NOW + MAX_REQUEST_LIFETIME + TICK, NOW)
    assert problem == "the deadline is more than 3600 s after the request's time"
    assert request_time_problem(NOW, None, NOW) == "a request must carry a deadline"


def test_a_request_may_be_ahead_of_the_clock_by_the_skew_and_no_more() -> None:
    at = NOW + CLOCK_SKEW
    assert request_time_problem(at, at + timedelta(seconds=10), NOW) is None
    later = at + TICK
    problem = request_time_problem(later, later + timedelta(seconds=10), NOW)
    assert problem == "the request's time is 300 s ahead of this host's clock"


def test_a_reply_may_be_dated_from_the_skew_before_its_exchange_to_the_skew_after_now() -> None:
    created = NOW - timedelta(seconds=2)
    assert reply_time_problem(created - CLOCK_SKEW, created, NOW) is None
    assert reply_time_problem(NOW + CLOCK_SKEW, created, NOW) is None
    early = reply_time_problem(created - CLOCK_SKEW - TICK, created, NOW)
    assert early == "the reply is dated before its exchange was created"
    ahead = reply_time_problem(NOW + CLOCK_SKEW + TICK, created, NOW)
    assert ahead is not None
    assert "ahead of this host's clock" in ahead


def test_a_provider_step_may_be_dated_the_skew_before_its_requested_and_no_earlier() -> None:
    assert step_time_problem(NOW - CLOCK_SKEW, NOW) is None
    assert step_time_problem(NOW + timedelta(days=3), NOW) is None  # a late REJECTED
    problem = step_time_problem(NOW - CLOCK_SKEW - TICK, NOW)
    assert problem == "the step is dated before its exchange's REQUESTED"


def test_a_key_gets_events_into_the_log_until_a_day_after_its_window_ends() -> None:
    retired_at = NOW - RETIRED_KEY_GRACE
    assert retired_key_problem(None, NOW) is None
    assert retired_key_problem(retired_at, NOW) is None
    problem = retired_key_problem(retired_at - TICK, NOW)
    assert problem == "retired more than 24 h before the broker received the event"
