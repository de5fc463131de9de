"""Every adapter package has the same shape, and the registry finds them by kind."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from connectors.adapters.base import LegacyError, LegacyErrorKind
from connectors.adapters.registry import ADAPTER_KINDS, UnknownAdapterKindError, adapter_factory
from connectors.adapters.request_values import Template, field_value
from connectors.adapters.soap.xml import parse_xml, xml_text


class OtherSettings(BaseModel):
    """Settings of no adapter."""


MINIMAL: dict[str, dict[str, Any]] = {
    "file": {
        "path": "/data/x.csv",
        "format": "csv",
        "key_column": "DNI",
        "key_field": "document_number",
    },
    "rest": {"base_url": "https://legacy.example/api", "path": "/p/{document_number}"},
    "soap": {
        "endpoint": "https://legacy.example/ws",
        "envelope": '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/">'
        "<e:Body><q>{nif}</q></e:Body></e:Envelope>",
        "record_xpath": "//r",
        "fields": {"a": "a"},
    },
    "sql": {"url": "sqlite+aiosqlite:///x.db", "query": "SELECT * FROM t WHERE id = :id"},
}


@pytest.mark.parametrize("kind", ADAPTER_KINDS)
def test_every_kind_exports_a_factory_that_builds_from_its_settings(kind: str) -> None:
    """kind, settings_model and build() line up for each adapter package."""
    factory = adapter_factory(kind)
    assert factory.kind == kind
    settings = factory.settings_model.model_validate(MINIMAL[kind])
    adapter = factory.build(settings)
    for method in ("open", "close", "lookup"):
        assert callable(getattr(adapter, method))
    with pytest.raises(TypeError, match=f"the {kind} adapter needs"):
        factory.build(OtherSettings())


@pytest.mark.parametrize("kind", ADAPTER_KINDS)
def test_unknown_settings_keys_are_refused(kind: str) -> None:
    """A typo in the adapter block is an error naming the key, not silently ignored."""
    factory = adapter_factory(kind)
    with pytest.raises(ValidationError, match="querry"):
        factory.settings_model.model_validate({**MINIMAL[kind], "querry": "x"})


def test_unknown_kind_lists_the_known_ones() -> None:
    """The error says which kinds exist; it is a ValueError for pydantic validators too."""
    with pytest.raises(UnknownAdapterKindError) as caught:
        adapter_factory("ldap")
    assert "'ldap'" in str(caught.value)
    assert "file, rest, soap, sql" in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert caught.value.kind is LegacyErrorKind.CONFIGURATION


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"query": "DELETE FROM t WHERE id = :id"}, "must be a SELECT"),
        ({"query": "SELECT * FROM t WHERE id = '{id}'"}, ":name bind parameters"),
        ({"url": "postgresql://u:p@h/db"}, "asyncio driver"),
        ({"params": {"nope": "x"}}, "not :bind parameters"),
        ({"pool_size": 0}, "greater than or equal to 1"),
    ],
)
def test_sql_settings_errors(overrides: dict[str, Any], message: str) -> None:
    """Writes, formatted values, blocking drivers and unknown binds are refused at start-up."""
    with pytest.raises(ValidationError, match=message):
        adapter_factory("sql").settings_model.model_validate({**MINIMAL["sql"], **overrides})


def test_sql_url_is_a_secret() -> None:
    """The database password never shows in the settings' repr."""
    settings = adapter_factory("sql").settings_model.model_validate(
        {**MINIMAL["sql"], "url": "postgresql+asyncpg://u:hunter2@h/db"}
    )
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"format": "fixed"}, "needs fixed_columns"),
        ({"header": False}, "needs columns"),
        ({"header": False, "columns": ["A", "B"]}, "key_column 'DNI' is not one of"),
        ({"encoding": "klingon"}, "unknown encoding"),
        ({"delimiter": ";;"}, "at most 1 character"),
    ],
)
def test_file_settings_errors(overrides: dict[str, Any], message: str) -> None:
    """Layouts that cannot find the key are refused before any file is read."""
    with pytest.raises(ValidationError, match=message):
        adapter_factory("file").settings_model.model_validate({**MINIMAL["file"], **overrides})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_url": "ftp://x"}, "http:// or https://"),
        ({"path": "p/{x}"}, "must start with '/'"),
        ({"path": "/p/{x!r}"}, "no format spec"),
        ({"record_pointer": "data"}, "RFC 6901"),
        ({"status_map": {999: "found"}}, "not HTTP status codes"),
        ({"auth_header": "Authorization"}, "together"),
        ({"json_body": {"a": "b"}}, "POST only"),
    ],
)
def test_rest_settings_errors(overrides: dict[str, Any], message: str) -> None:
    """Each malformed REST setting is named."""
    with pytest.raises(ValidationError, match=message):
        adapter_factory("rest").settings_model.model_validate({**MINIMAL["rest"], **overrides})


def test_templates_escape_every_value_for_their_target() -> None:
    """A template renders dotted request fields through its escaper; literals stay."""
    template = Template("<a>{subject.id}</a>{{x}}{year}", xml_text)
    request = {"subject": {"id": "<b>&"}, "year": 2024}
    assert template.render(request) == "<a>&lt;b&gt;&amp;</a>{x}2024"
    assert template.fields == ["subject.id", "year"]
    with pytest.raises(LegacyError, match=r"no field 'subject\.nope'"):
        field_value(request, "subject.nope")


def test_xml_text_refuses_control_characters() -> None:
    """A NUL cannot be carried by XML 1.0: REJECTED, not a broken envelope."""
    with pytest.raises(LegacyError) as caught:
        xml_text("12345678\x00Z")
    assert caught.value.kind is LegacyErrorKind.REJECTED


def test_parse_xml_refuses_doctype_in_any_encoding() -> None:
    """A UTF-16 entity bomb slips past a byte search; the parsed doctype still refuses it."""
    bomb = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><r>&b;</r>'
    ).encode("utf-16")
    with pytest.raises(LegacyError, match="DOCTYPE"):
        parse_xml(bomb)
    with pytest.raises(LegacyError, match="not well-formed"):
        parse_xml(b"<r><unclosed></r>")
    assert parse_xml(b"<r>ok</r>").text == "ok"
