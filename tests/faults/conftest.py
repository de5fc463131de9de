"""The fault-injection suite: the whole system as real processes, faults injected mid-load.

``system`` runs ``interop dev`` (broker, demo registries, gateway and three connectors,
each a child process that ``interop dev`` supervises and restarts) once for the module;
each case injects one fault while a bounded load runs, then reconciles (see
``tests/faults/support.py``). Every case's figures are printed at the end of the run.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.support import REPORT, System, start_system


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """``interop dev`` for the module, stopped with Ctrl-C at the end."""
    with start_system(tmp_path_factory.mktemp("faults")) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Per fault: sent / 200 / 202 / errors by code / lost / duplicated / recovery time."""
    if not REPORT:
        return
    terminalreporter.section("faults: what clients saw")
    for line in REPORT:
        terminalreporter.write_line(line)
