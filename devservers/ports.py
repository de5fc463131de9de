"""Ports our servers listen on: below the machine's ephemeral range, checked as servers bind.

A client whose server stopped keeps reconnecting to its port; if that port is in the
ephemeral range the kernel can hand the client that very port as its own source port, and
the client connects to itself (a TCP simultaneous open) and hangs on its own bytes. So the
broker, PostgreSQL and the health ports ``interop dev`` starts (and the tests' servers) get
ports below the range. A port is checked with ``SO_REUSEADDR``, as servers bind, so
connections of a stopped server lingering in TIME_WAIT do not make it look taken.

A port handed out is not handed out again by this process for a while: a caller picks
ports for several servers before any of them binds (``interop bench`` writes every
config first), and a free port stays free until its server starts. Two of them once got
the same port, and the later server failed with "address already in use".
"""

from __future__ import annotations

import os
import random
import socket
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Final

__all__ = ["PORT_FLOOR", "ephemeral_port_range", "free_server_port", "server_can_bind"]

# Below the ephemeral range, above the well-known services most machines run.
PORT_FLOOR: Final = 20_000
_ATTEMPTS: Final = 200
_REMEMBERED: Final = 2048
"""Ports handed out that this process skips (the oldest is forgotten first)."""
_handed_out: OrderedDict[tuple[str, int], None] = OrderedDict()
_handed_out_lock = threading.Lock()


def ephemeral_port_range() -> tuple[int, int]:
    """The machine's ephemeral (client source) port range, Linux's default if unknown."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def server_can_bind(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (bound the way servers bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_server_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on, between ``PORT_FLOOR`` and the ephemeral range, and not
    one this process handed out recently (see the module); the scan starts at a random
    point offset by the process id, so concurrent sessions (parallel test runs, two
    ``interop dev``) rarely try the same ports."""
    ceiling = ephemeral_port_range()[0]
    floor = min(PORT_FLOOR, max(1024, ceiling - 1000))
    span = ceiling - floor
    start = (random.randrange(span) + os.getpid() * 97) % span  # noqa: S311 - not a secret
    with _handed_out_lock:
        for step in range(min(_ATTEMPTS, span)):
            port = floor + (start + step * 7919) % span
            if (host, port) not in _handed_out and server_can_bind(host, port):
                _handed_out[(host, port)] = None
                while len(_handed_out) > _REMEMBERED:
                    _handed_out.popitem(last=False)
                return port
    raise OSError(f"no free port between {floor} and {ceiling} on {host}")
