"""The audit API's CSV cells and query values (OWASP CSV injection; out-of-range input)."""

from __future__ import annotations

import pytest

from gateway.audit_query import MAX_INDEX, csv_cell, csv_row, query_int, query_time
from gateway.errors import InvalidRequestError


@pytest.mark.parametrize("lead", ["=", "+", "-", "@", "\t", "\r", "\n"])
def test_formula_leading_cells_are_escaped(lead: str) -> None:
    """A cell a spreadsheet would evaluate gets a leading apostrophe; others are kept."""
    assert (
        csv_cell(f'{lead}HYPERLINK("http://evil/","x")') == f'\'{lead}HYPERLINK("http://evil/","x")'
    )


def test_plain_cells_and_non_text_are_left_alone() -> None:
    """Ordinary text, numbers and None pass unchanged; a row is escaped cell by cell."""
    assert csv_cell("official-42") == "official-42"
    assert csv_cell(-3) == -3
    assert csv_cell(None) is None
    assert csv_row({"a": "=1+1", "b": "x"}) == {"a": "'=1+1", "b": "x"}


@pytest.mark.parametrize(
    "text", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+14:00", "2026-01-01T00:00:00"]
)
def test_times_that_overflow_in_utc_or_lack_a_zone_are_400s(text: str) -> None:
    """Converting to UTC would overflow (or there is no zone): a 400, not an exception."""
    with pytest.raises(InvalidRequestError):
        query_time(text, "since")


def test_indexes_beyond_bigint_are_400s() -> None:
    """The database holds 64-bit indexes: one more is refused, the largest accepted."""
    assert query_int(str(MAX_INDEX), "from_index", default=None, low=0) == MAX_INDEX
    with pytest.raises(InvalidRequestError):
        query_int(str(MAX_INDEX + 1), "from_index", default=None, low=0)
