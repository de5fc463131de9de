"""Header value rules: times, codes, text, pseudonyms, hostile characters."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bus.header_values import (
    check_base64url,
    check_code,
    check_pseudonym,
    check_safe_text,
    check_text,
    format_time,
    parse_time,
)


def test_time_is_formatted_as_rfc3339_utc_milliseconds() -> None:
    """Any aware datetime is written in UTC with exactly three fraction digits and Z."""
    moment = datetime(2026, 5, 9, 12, 11, 12, 345678, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2026-05-09T10:11:12.345Z"


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.builds(timezone, st.timedeltas(timedelta(hours=-23), timedelta(hours=23))),
    )
)
def test_the_time_text_is_what_strftime_wrote(moment: datetime) -> None:
    """The header text of a time is part of what signatures cover: formatting it faster
    (isoformat) must give the text the earlier strftime form gave, for any offset."""
    utc = moment.astimezone(UTC)
    expected = utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    assert format_time(moment) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-09T10:11:12.345Z", datetime(2026, 5, 9, 10, 11, 12, 345000, UTC)),
        ("2026-05-09T10:11:12Z", datetime(2026, 5, 9, 10, 11, 12, tzinfo=UTC)),
        ("2026-05-09T12:11:12.3456789+02:00", datetime(2026, 5, 9, 10, 11, 12, 345000, UTC)),
    ],
)
def test_rfc3339_times_parse_to_utc_milliseconds(text: str, expected: datetime) -> None:
    """Offsets are applied and precision beyond milliseconds is cut (not rounded)."""
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2026-05-09", "2026-05-09T10:11:12", "2026-13-09T10:11:12Z", "1715249472345", "now"],
)
def test_non_rfc3339_times_are_refused(text: str) -> None:
    """Dates without time or zone, impossible dates and epoch numbers are refused."""
    with pytest.raises(ValueError, match=r"."):
        parse_time(text)


@given(st.datetimes(min_value=datetime(1971, 1, 1), timezones=st.just(UTC)))
def test_time_format_and_parse_are_lossless(moment: datetime) -> None:
    """parse(format(t)) == t at millisecond precision: signatures depend on it."""
    text = format_time(moment)
    assert format_time(parse_time(text)) == text
    assert abs(parse_time(text) - moment) < timedelta(milliseconds=1)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " leading",
        "x" * 129,
        "with space",
        "tab\there",
        "new\nline",
        "bidi\u202eevil",
        "zero\u200bwidth",
        "ñ",
    ],
)
def test_codes_refuse_whitespace_control_and_non_ascii(bad: str) -> None:
    """Codes are bounded ASCII tokens; control, bidi and zero-width characters are refused."""
    with pytest.raises(ValueError, match=r"."):
        check_code(bad)


def test_text_allows_readable_unicode_and_refuses_hostile_characters() -> None:
    """Legal-basis text may use accents and spaces, never control or bidi characters."""
    assert check_text("Ley 39/2015, artículo 28") == "Ley 39/2015, artículo 28"
    for bad in ("ok\x1b[2J", "line\u2028break", "rtl\u202e", " padded ", "x" * 257):
        with pytest.raises(ValueError, match=r"."):
            check_text(bad)


@pytest.mark.parametrize("raw_id", ["12345678Z", "ES9121000418450200051332", "X1234567L", ""])
def test_raw_identifiers_are_refused_as_subject_references(raw_id: str) -> None:
    """DNIs, NIEs and IBANs are too short to pass as a 256-bit pseudonym."""
    with pytest.raises(ValueError, match="pseudonym"):
        check_pseudonym(raw_id)


def test_pseudonyms_and_base64url() -> None:
    """HMAC-SHA-256 in base64url (43) or hex (64) passes; padding and '+' do not."""
    assert check_pseudonym("A" * 43) == "A" * 43
    assert check_pseudonym("0f" * 32) == "0f" * 32
    assert check_base64url("abc_-d") == "abc_-d"
    for bad in ("abc=", "a+b/", "abcde"):
        with pytest.raises(ValueError, match="base64url"):
            check_base64url(bad)


def test_the_ascii_fast_path_refuses_exactly_the_control_characters() -> None:
    """Every ASCII character is accepted or refused as the Unicode-category rule says
    (the fast path for ASCII text must not widen or narrow it), and a non-ASCII format
    character still reaches the full check."""
    for code in range(128):
        char = chr(code)
        forbidden = unicodedata.category(char) == "Cc"
        try:
            check_safe_text(f"a{char}b", max_length=10)
            accepted = True
        except ValueError:
            accepted = False
        assert accepted is not forbidden, hex(code)
    with pytest.raises(ValueError, match="U\\+200B"):
        check_safe_text("es.aeat\u200b", max_length=64)
    assert check_safe_text("Ley 39/2015 art. 28 · Alcalá", max_length=64)
