"""The items file of ``interop batch submit``: both data layouts, and every refusal naming
its line without quoting a cell."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.batch_cmd import progress_line
from interop.batch_csv import ItemsFileError, parse_items, read_items


def test_data_columns_become_string_fields_and_empty_cells_are_left_out() -> None:
    """data.<field> columns make the data object; item_ref/consent_ref are optional."""
    items, lines = parse_items(
        "subject,item_ref,data.document_type,data.document_number,consent_ref\r\n"
        "12345678Z,r-1,DNI,12345678Z,\r\n"
        "\r\n"
        "X1234567L,,NIE,,c-9\r\n"
    )
    assert items == [
        {
            "subject": "12345678Z",
            "data": {"document_type": "DNI", "document_number": "12345678Z"},
            "item_ref": "r-1",
        },
        {"subject": "X1234567L", "data": {"document_type": "NIE"}, "consent_ref": "c-9"},
    ]
    assert lines == [2, 4]  # the blank line 3 is skipped, line numbers stay the file's


def test_a_data_column_holds_a_json_object_with_typed_fields() -> None:
    """Quoted JSON (commas and quotes inside) is the data as is."""
    items, _ = parse_items('subject,data\n12345678Z,"{""nif"": ""12345678Z"", ""year"": 2024}"\n')
    assert items[0]["data"] == {"nif": "12345678Z", "year": 2024}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("item_ref,data\nr,{}\n", "line 1: no 'subject' column"),
        ("subject,colour\nx,red\n", "line 1: unknown column(s) colour"),
        ("subject,data,data.x\nx,{},y\n", "line 1: give a 'data' column or data.<field>"),
        ("subject,data\n12345678Z,{}\n99999999R,not json\n", "line 3: 'data' is not JSON"),
        ("subject,data\n12345678Z,[1]\n", "line 2: 'data' is not a JSON object"),
        ("subject,data.x\n12345678Z,a,b\n", "line 2: 3 cells, the header has 2"),
        ("subject,data.x\n,a\n", "line 2: the subject is empty"),
        ("subject,data.x\n", "holds no items"),
        ('subject,data.x\n"12345678Z,a\n', "unreadable CSV"),
    ],
    ids=[
        "empty",
        "no-subject",
        "unknown-column",
        "both-layouts",
        "bad-json",
        "not-an-object",
        "cell-count",
        "empty-subject",
        "no-items",
        "torn-quote",
    ],
)
def test_refusals_name_the_line_and_never_a_value(text: str, message: str) -> None:
    """Each problem is an ItemsFileError naming where, not what the cell held."""
    with pytest.raises(ItemsFileError) as caught:
        parse_items(text, source="items.csv")
    assert message in str(caught.value)
    assert str(caught.value).startswith("items.csv")
    assert "99999999R" not in str(caught.value)
    assert "12345678Z" not in str(caught.value)


def test_an_unreadable_or_non_utf8_file_is_an_error(tmp_path: Path) -> None:
    """Missing file and Latin-1 bytes: refused with the path, not a traceback."""
    with pytest.raises(ItemsFileError, match="cannot be read"):
        read_items(tmp_path / "missing.csv")
    latin = tmp_path / "latin.csv"
    latin.write_bytes("subject,data.x\n12345678Z,Ñ\n".encode("latin-1"))
    with pytest.raises(ItemsFileError, match="is not UTF-8"):
        read_items(latin)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffsubject,data.x\n12345678Z,a\n".encode())
    assert read_items(bom)[0][0]["subject"] == "12345678Z"


def test_the_progress_line_is_plain_text() -> None:
    """A bar of # and -, the percentage, done/total and the non-zero counts."""
    line = progress_line(
        {
            "progress": 0.4,
            "item_count": 1000,
            "counts": {"pending": 600, "found": 300, "not_found": 100, "failed": 0},
        }
    )
    assert (
        line
        == "[############------------------]  40% 400/1000  pending 600 found 300 not_found 100"
    )
