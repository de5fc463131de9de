"""Fixtures for batch tests: the gateway fixtures (a real gateway, broker and provider), and
the figures the tests measured, printed at the end of the run."""

import pytest

from tests.integration.gateway.support import running_gateway

__all__ = ["FIGURES", "running_gateway"]


FIGURES: list[str] = []
"""Figures the batch tests measured (throughput, latency), printed after the run."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the measured figures: they are reported, not asserted (a noisy machine)."""
    if FIGURES:
        terminalreporter.section("batches: figures measured")
        for line in FIGURES:
            terminalreporter.write_line(line)
