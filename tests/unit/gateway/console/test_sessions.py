"""The console's session store: random ids, expiry, sign-in rotation, sign-out, CSRF."""

from __future__ import annotations

from gateway.console.sessions import SessionStore


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _store(clock: _Clock, *, max_sessions: int = 100) -> SessionStore:
    return SessionStore(idle_timeout_s=60, max_age_s=600, max_sessions=max_sessions, clock=clock)


def test_ids_and_tokens_are_long_and_distinct() -> None:
    """Every session gets its own unguessable id and CSRF token (32 random bytes each)."""
    store = _store(_Clock())
    sessions = [store.new() for _ in range(50)]
    ids = {s.id for s in sessions}
    tokens = {s.csrf_token for s in sessions}
    assert len(ids) == 50
    assert len(tokens) == 50
    assert all(len(s.id) >= 43 and len(s.csrf_token) >= 43 for s in sessions)
    assert ids.isdisjoint(tokens)


def test_idle_session_dies_and_use_keeps_it_alive() -> None:
    """A session used within the idle timeout lives on; one left idle longer is gone."""
    clock = _Clock()
    store = _store(clock)
    used, idle = store.new(), store.new()
    for _ in range(5):
        clock.now += 50
        assert store.get(used.id) is used
    assert store.get(idle.id) is None


def test_absolute_expiry_beats_activity() -> None:
    """However busy, a session is dead max_age_s after it was made."""
    clock = _Clock()
    store = _store(clock)
    session = store.new()
    for _ in range(11):
        clock.now += 59
        store.get(session.id)
    clock.now += 59
    assert clock.now - session.created > 600
    assert store.get(session.id) is None


def test_sign_in_rotates_the_id_and_sign_out_kills_it() -> None:
    """Signing in ends the anonymous session (no fixation); ending one makes its id open
    nothing, while other sessions live on."""
    store = _store(_Clock())
    anonymous, other = store.new(), store.new()
    signed = store.sign_in(anonymous, "es.aepd")
    assert signed.id != anonymous.id
    assert store.get(anonymous.id) is None
    assert store.get(signed.id) is signed
    assert signed.member_id == "es.aepd"
    store.end(signed.id)
    assert store.get(signed.id) is None
    assert store.get(other.id) is other


def test_csrf_check_accepts_only_the_session_token() -> None:
    """The CSRF check accepts the session's own token, nothing else (not another's)."""
    store = _store(_Clock())
    one, two = store.new(), store.new()
    assert one.csrf_ok(one.csrf_token)
    assert not one.csrf_ok(two.csrf_token)
    assert not one.csrf_ok(None)
    assert not one.csrf_ok("")


def test_store_is_bounded_dropping_least_recently_used() -> None:
    """Past max_sessions the least recently used session goes; recently used ones stay."""
    store = _store(_Clock(), max_sessions=10)
    first = store.new()
    rest = [store.new() for _ in range(9)]
    store.get(first.id)  # used: now the most recent
    store.new()
    assert len(store) == 10
    assert store.get(first.id) is first
    assert store.get(rest[0].id) is None


def test_unknown_and_oversized_ids_open_nothing() -> None:
    """An id never handed out, empty, or absurdly long finds no session."""
    store = _store(_Clock())
    store.new()
    assert store.get("nope") is None
    assert store.get("") is None
    assert store.get(None) is None
    assert store.get("x" * 5000) is None
