"""Hooks every suite shares."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, Any]:
    """Keep each phase's report on the item (``rep_setup``, ``rep_call``...), so a fixture
    can tell how its test ended (the fault and cluster suites' ``case`` rows)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
