"""Settings of the ``soap`` adapter (the ``adapter:`` block with ``kind: soap``)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from lxml import etree
from pydantic import Field, field_validator, model_validator

from connectors.adapters.base import LegacyError
from connectors.adapters.http_client import HttpSettings
from connectors.adapters.request_values import Template
from connectors.adapters.soap.xml import parse_xml, xml_text

__all__ = ["SOAP_ENV", "SoapSettings"]

SOAP_ENV = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}


class SoapSettings(HttpSettings):
    """One SOAP operation: an envelope template in, XPath-selected fields out."""

    kind: Literal["soap"] = "soap"
    endpoint: str
    """The service URL."""
    soap_version: Literal["1.1", "1.2"] = "1.1"
    soap_action: str = ""
    """SOAPAction header (1.1) or the ``action`` content-type parameter (1.2)."""
    envelope: str = Field(min_length=1)
    """The whole request envelope; ``{field}`` placeholders are XML-escaped request values."""
    namespaces: dict[str, str] = Field(default_factory=dict)
    """Prefixes the XPaths use -> namespace URIs."""
    record_xpath: str
    """Selects the one element holding the record in the answer."""
    fields: dict[str, str] = Field(min_length=1)
    """Legacy field name -> XPath relative to the record (an element's text, an attribute)."""
    not_found_fault_codes: list[str] = Field(default_factory=list)
    """Fault codes meaning "no such subject": a 1.1 faultcode's local part
    (``Client.NoEncontrado`` or just ``NoEncontrado``) or a 1.2 Subcode's local name."""
    not_found_xpath: str | None = None
    """An XPath over the answer that is true when the service says "not found" in the body."""
    not_found_when_record_missing: bool = False
    """An answer without the record element means not found (else a PROTOCOL error)."""

    @field_validator("endpoint")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("endpoint must be an absolute http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _compiles(self) -> SoapSettings:
        for name, expr in [
            ("record_xpath", self.record_xpath),
            *((f"fields.{k}", v) for k, v in self.fields.items()),
            *([("not_found_xpath", self.not_found_xpath)] if self.not_found_xpath else []),
        ]:
            try:
                etree.XPath(expr, namespaces=self.namespaces)
            except etree.XPathError as exc:
                raise ValueError(f"{name}: not a valid XPath here ({exc})") from None
        try:
            sample = Template(self.envelope, xml_text).sample()
            root = parse_xml(sample.encode())
        except LegacyError as exc:
            raise ValueError(f"envelope: {exc.detail}") from None
        expected = f"{{{SOAP_ENV[self.soap_version]}}}Envelope"
        if root.tag != expected:
            raise ValueError(
                f"envelope: the root must be a SOAP {self.soap_version} Envelope ({expected})"
            )
        return self
