"""The charts page renders for an empty window and a full one (StrictUndefined: a value
the template lacks fails here, not as an error page in front of an auditor)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bus.audit import EventRow, IndexedEvent
from gateway.console.charts import build_charts
from gateway.console.i18n import LANGUAGES, translate
from gateway.console.site import _environment


def _events() -> list[IndexedEvent]:
    start = datetime(2026, 5, 9, tzinfo=UTC)
    kinds = ["COMPLETED", "DENIED", "FAILED", "TIMED_OUT", "COMPLETED"]
    return [
        IndexedEvent(
            leaf_index=i,
            topic_offset=i,
            row=EventRow(
                event_id=f"e{i}",
                type=kind,
                time=start + timedelta(minutes=i),
                actor="interop.gateway",
                service="svc.a" if i % 2 else "svc.b",
                latency_ms=40 + i if kind == "COMPLETED" else None,
            ),
        )
        for i, kind in enumerate(kinds)
    ]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("full", [False, True])
def test_chart_page_renders(language: str, full: bool) -> None:
    """Every language, with and without exchanges: the page renders, each service has
    its table row and its bars, and the count is stated."""
    charts = build_charts(_events() if full else [])

    def words(key: str, **values: str) -> str:
        return translate(language, key, **values)

    html = (
        _environment()
        .get_template("auditor_charts.html")
        .render(
            t=words, lang=language, languages=LANGUAGES, path="/console/auditor/charts",
            member=None, session=None, csrf_field="csrf_token", csrf="", demo_enabled=False,
            charts=charts, window=5000,
        )
    )  # fmt: skip
    assert f'<html lang="{language}">' in html
    assert f": {charts.exchanges}." in html
    # svc.b completed some (counts and latency rows); svc.a none (counts only)
    assert html.count('<tr data-service="svc.b">') == (2 if full else 0)
    assert html.count('<tr data-service="svc.a">') == (1 if full else 0)
    assert html.count('data-kind="DENIED"') == (1 if full else 0)
