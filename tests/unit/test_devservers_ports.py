"""Server ports below the ephemeral range, checked the way servers bind."""

from __future__ import annotations

import socket

import pytest

from devservers import ports
from devservers.ports import PORT_FLOOR, ephemeral_port_range, free_server_port, server_can_bind


def test_free_server_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    """Every port handed out lies under the machine's ephemeral range (so no client can be
    given it as a source port) and a server can listen on it."""
    low, _high = ephemeral_port_range()
    ports = {free_server_port() for _ in range(20)}
    assert all(min(PORT_FLOOR, low - 1000) <= port < low for port in ports)
    assert all(server_can_bind("127.0.0.1", port) for port in ports)
    assert len(ports) > 1  # a scan from a random start, not one fixed port


def test_a_listening_port_is_taken_and_a_time_wait_one_is_not() -> None:
    """A port with a listener cannot be bound; once the listener closes after serving a
    connection (its side left in TIME_WAIT), the port is free again at once."""
    port = free_server_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen()
        assert not server_can_bind("127.0.0.1", port)
        client = socket.create_connection(("127.0.0.1", port))
        accepted, _ = listener.accept()
        accepted.close()  # the server closes first: its end goes to TIME_WAIT
        client.close()
    assert server_can_bind("127.0.0.1", port)


def test_a_port_handed_out_is_not_handed_out_again_before_it_is_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ports picked for several servers before any binds are all different, even when
    every scan starts at the same point. (``interop bench`` once gave a connector's and
    the audit indexer's health servers one port; the indexer died on "address already in
    use".)"""
    monkeypatch.setattr(ports.random, "randrange", lambda _span: 0)
    picked = [free_server_port() for _ in range(50)]
    assert len(set(picked)) == 50
    assert all(server_can_bind("127.0.0.1", port) for port in picked)
