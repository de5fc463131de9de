"""What a bench runs on: each part's login and store, from the target and the layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.databases import StoreLayout
from benchmarks.target import (
    ADMIN_USER,
    FLOOR_USER,
    GATEWAY_USER,
    PROVIDER_USER,
    BenchTarget,
    new_broker_auth,
)
from devservers.broker_auth import BrokerAuthError


def test_an_open_broker_gives_no_logins_and_replicates_once() -> None:
    """Without auth every part connects in plaintext with no SASL fields; one node means
    replication factor 1 and min.insync.replicas 1."""
    target = BenchTarget("127.0.0.1:9092")
    assert target.login(GATEWAY_USER) == {}
    assert target.admin().security_protocol == "PLAINTEXT"
    assert (target.replication_factor, target.min_insync_replicas) == (1, 1)
    assert target.store == "sqlite"


def test_an_authenticated_cluster_gives_each_part_its_own_user() -> None:
    """Gateway, provider and floor log in as themselves (SCRAM, distinct passwords); the
    admin settings carry the administrator; 3 nodes replicate 3 times, 2 in sync."""
    auth = new_broker_auth()
    target = BenchTarget("h:1,h:3,h:5", nodes=3, auth=auth)
    logins = {u: target.login(u) for u in (GATEWAY_USER, PROVIDER_USER, FLOOR_USER)}
    assert {u: login["sasl_username"] for u, login in logins.items()} == {u: u for u in logins}
    assert len({login["sasl_password"] for login in logins.values()}) == 3
    assert all(login["security_protocol"] == "SASL_PLAINTEXT" for login in logins.values())
    assert target.admin().sasl_username == ADMIN_USER
    assert (target.replication_factor, target.min_insync_replicas) == (3, 2)
    with pytest.raises(BrokerAuthError):
        target.login("somebody-else")


def test_sqlite_layout_gives_each_part_its_own_file(tmp_path: Path) -> None:
    """SQLite: one file per gateway replica and connector in the work directory."""
    layout = StoreLayout(tmp_path)
    assert layout.gateway(2, "e2e_2x2-gateway-2") == (
        f"sqlite:///{tmp_path / 'e2e_2x2-gateway-2.db'}"
    )
    assert layout.connector(1, "e2e-connector-1") == (
        f"sqlite:///{tmp_path / 'e2e-connector-1-replies.db'}"
    )


def test_postgres_layout_shares_a_database_per_scenario_and_role(tmp_path: Path) -> None:
    """PostgreSQL: a scenario's gateway replicas share one database (and its indexer with
    them), its connectors another; the two scenarios never share one."""
    layout = StoreLayout(
        tmp_path,
        {
            "s1_gateways": "postgresql://h/g1",
            "s1_connectors": "postgresql://h/c1",
            "s2_gateways": "postgresql://h/g2",
            "s2_connectors": "postgresql://h/c2",
            "indexer": "postgresql://h/i",
        },
    )
    assert layout.gateway(2, "e2e_2x2-gateway-1") == layout.gateway(2, "e2e_2x2-gateway-2")
    assert layout.gateway(2, "x") == "postgresql://h/g2"
    assert layout.gateway(1, "x") == "postgresql://h/g1"
    assert layout.connector(2, "e2e_2x2-connector-2") == "postgresql://h/c2"
    assert layout.indexer("bench.audit.x") == "postgresql://h/i"
