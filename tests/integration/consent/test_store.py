"""The consent store on real SQLite and real PostgreSQL: same behaviour, same database as
the exchanges, revocation kept, never erased."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.consent import (
    Consent,
    ConsentStore,
    EvidenceChannel,
    Opposition,
    open_consent_store,
)
from gateway.errors import ServiceUnavailableError
from gateway.store import open_store

NOW = datetime(2026, 5, 9, 10, 0, 0, 123456, tzinfo=UTC)
SUBJECT = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE"
DIGEST = "sha256:" + "0f" * 32


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a fresh store database of each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'gateway.db'}"
    dsn: str = request.getfixturevalue("postgres_dsn")
    return dsn


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[ConsentStore]:
    consents = open_consent_store(store_url)
    await consents.open()
    try:
        yield consents
    finally:
        await consents.close()


def _consent(consent_id: str = "c-1", **overrides: object) -> Consent:
    values: dict[str, object] = {
        "id": consent_id,
        "subject_ref": SUBJECT,
        "grantee": None,
        "services": ("tax.income-band", "register.residence-certificate"),
        "purposes": ("social-benefits",),
        "valid_from": NOW,
        "valid_until": NOW + timedelta(days=90),
        "evidence_channel": EvidenceChannel.PAPER,
        "evidence_digest": DIGEST,
        "recorded_by": "es.town",
        "created_at": NOW,
    }
    values.update(overrides)
    return Consent(**values)  # type: ignore[arg-type]


async def test_consents_round_trip_and_revocation_keeps_the_row(store: ConsentStore) -> None:
    """What goes in comes out (microsecond times, lists, nulls); revoking keeps the row and
    the first revocation's time and author."""
    first = _consent()
    second = _consent("c-2", grantee="es.town", valid_until=None, created_at=NOW + timedelta(1))
    await store.add_consent(first)
    await store.add_consent(second)
    await store.add_consent(_consent("c-3", subject_ref="another" + SUBJECT))
    assert await store.consents_of(SUBJECT) == [first, second]
    assert await store.get_consent("c-2") == second
    assert await store.get_consent("nope") is None

    revoked = await store.revoke_consent("c-1", at=NOW + timedelta(hours=1), by="es.portal")
    assert revoked is not None
    assert revoked.revoked_at == NOW + timedelta(hours=1)
    assert revoked.revoked_by == "es.portal"
    again = await store.revoke_consent("c-1", at=NOW + timedelta(hours=2), by="es.other")
    assert again == revoked
    assert await store.revoke_consent("nope", at=NOW, by="x") is None
    assert [c.id for c in await store.consents_of(SUBJECT)] == ["c-1", "c-2"]


async def test_oppositions_round_trip_and_revoke(store: ConsentStore) -> None:
    """Oppositions with and without named requesters; revocation is kept."""
    everyone = Opposition(
        id="o-1",
        subject_ref=SUBJECT,
        services=("register.residence-certificate",),
        requesters=(),
        recorded_by="es.portal",
        created_at=NOW,
    )
    named = Opposition(
        id="o-2",
        subject_ref=SUBJECT,
        services=("register.residence-certificate",),
        requesters=("es.town", "es.other"),
        recorded_by="es.portal",
        created_at=NOW + timedelta(seconds=1),
    )
    await store.add_opposition(everyone)
    await store.add_opposition(named)
    assert await store.oppositions_of(SUBJECT) == [everyone, named]
    revoked = await store.revoke_opposition("o-2", at=NOW + timedelta(days=1), by="es.portal")
    assert revoked is not None
    assert not revoked.active
    assert await store.get_opposition("o-2") == revoked
    assert await store.oppositions_of("nobody") == []


async def test_the_registry_shares_the_exchange_database(store_url: str) -> None:
    """Exchanges and consents open the same database in either order, each with its own
    schema_version row; a second open is a no-op."""
    exchanges = open_store(store_url)
    consents = open_consent_store(store_url)
    await consents.open()
    await exchanges.open()
    try:
        await consents.add_consent(_consent())
        again = open_consent_store(store_url)
        await again.open()
        assert [c.id for c in await again.consents_of(SUBJECT)] == ["c-1"]
        await again.close()
        await exchanges.ping()
        await consents.ping()
    finally:
        await exchanges.close()
        await consents.close()


async def test_a_closed_store_answers_service_unavailable(tmp_path: Path) -> None:
    """Used before open (or after close): a 503-class error, not a crash."""
    consents = open_consent_store(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ServiceUnavailableError):
        await consents.consents_of(SUBJECT)
    with pytest.raises(ValueError, match="file path"):
        open_consent_store("sqlite:///:memory:")
