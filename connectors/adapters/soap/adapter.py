"""The ``soap`` adapter: post the envelope, read faults and the record with XPath.

Faults are read before anything else, whatever the HTTP status (SOAP 1.1 sends them with
500, SOAP 1.2 with 400 or 500): a configured not-found code means ``NotFound``; a
Client/Sender fault is REJECTED (the same request will fail again); a Server/Receiver
fault is UNAVAILABLE and retriable; any other fault code is a PROTOCOL error. Fault
strings are never copied into errors: registries put the subject's identifier in them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from lxml import etree
from pydantic import BaseModel

from connectors.adapters.base import (
    Adapter,
    Found,
    LegacyConfigurationError,
    LegacyError,
    LegacyErrorKind,
    LegacyProtocolError,
    LegacyRejectedError,
    LegacyUnavailableError,
    LookupResult,
    NotFound,
    legacy_error,
)
from connectors.adapters.http_client import HttpAnswer, LegacyHttpClient
from connectors.adapters.request_values import Template
from connectors.adapters.soap.settings import SOAP_ENV, SoapSettings
from connectors.adapters.soap.xml import parse_xml, xml_text

__all__ = ["FACTORY", "SoapAdapter", "SoapAdapterFactory"]

_CLIENT_CODES = frozenset({"Client", "Sender"})
_SERVER_CODES = frozenset({"Server", "Receiver"})


class SoapAdapter:
    """One SOAP operation of a legacy service."""

    def __init__(self, settings: SoapSettings) -> None:
        self._settings = settings
        self._client = LegacyHttpClient(settings)
        self._envelope = Template(settings.envelope, xml_text)
        ns = settings.namespaces
        self._record = etree.XPath(settings.record_xpath, namespaces=ns)
        self._fields = {k: etree.XPath(v, namespaces=ns) for k, v in settings.fields.items()}
        self._not_found = (
            etree.XPath(settings.not_found_xpath, namespaces=ns)
            if settings.not_found_xpath
            else None
        )
        self._env_ns = SOAP_ENV[settings.soap_version]

    async def open(self) -> None:
        """Open the connection pool."""
        await self._client.open()

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.close()

    def _headers(self) -> dict[str, str]:
        action = self._settings.soap_action
        if self._settings.soap_version == "1.1":
            return {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{action}"'}
        content_type = "application/soap+xml; charset=utf-8"
        if action:
            content_type += f'; action="{action}"'
        return {"Content-Type": content_type}

    async def lookup(self, request: Mapping[str, Any]) -> LookupResult:
        """Post the envelope built from ``request``; map the answer."""
        body = self._envelope.render(request).encode("utf-8")
        answer = await self._client.send(
            "POST", self._settings.endpoint, body=body, headers=self._headers()
        )
        return self._read(answer)

    def _read(self, answer: HttpAnswer) -> LookupResult:
        try:
            root = parse_xml(answer.body)
        except LegacyError:
            if answer.status >= 500:
                raise LegacyUnavailableError(f"the service answered HTTP {answer.status}") from None
            raise
        if root.tag != f"{{{self._env_ns}}}Envelope":
            raise LegacyProtocolError(
                f"the answer is not a SOAP {self._settings.soap_version} envelope",
            )
        fault = root.find(f"{{{self._env_ns}}}Body/{{{self._env_ns}}}Fault")
        if fault is not None:
            return self._fault(fault)
        if not 200 <= answer.status < 300:
            kind = LegacyErrorKind.UNAVAILABLE if answer.status >= 500 else LegacyErrorKind.PROTOCOL
            raise legacy_error(kind, f"the service answered HTTP {answer.status} without a fault")
        if self._not_found is not None and bool(self._not_found(root)):
            return NotFound()
        matches = self._record(root)
        elements = matches if isinstance(matches, list) else []
        if not elements:
            if self._settings.not_found_when_record_missing:
                return NotFound()
            raise LegacyProtocolError("the answer has no record (record_xpath)")
        if len(elements) > 1:
            raise LegacyProtocolError("record_xpath selects several elements in the answer")
        record = elements[0]
        if not isinstance(record, etree._Element):
            raise LegacyConfigurationError("record_xpath must select an element")
        return Found({name: _value(xpath(record)) for name, xpath in self._fields.items()})

    def _fault(self, fault: etree._Element) -> LookupResult:
        codes = self._fault_codes(fault)
        configured = set(self._settings.not_found_fault_codes)
        if configured.intersection(codes):
            return NotFound()
        main = codes[0].split(".", 1)[0] if codes else ""
        shown = ", ".join(codes) or "none"
        if main in _CLIENT_CODES:
            raise LegacyRejectedError(f"SOAP fault (code {shown})")
        if main in _SERVER_CODES:
            raise LegacyUnavailableError(f"SOAP fault (code {shown})")
        raise LegacyProtocolError(f"SOAP fault with an unknown code ({shown})")

    def _fault_codes(self, fault: etree._Element) -> list[str]:
        """Local names of the fault code and its refinements, most general first."""
        if self._settings.soap_version == "1.1":
            node = fault.find("faultcode")
            if node is None or not node.text:
                return []
            local = _local(node.text.strip())
            # Client.NoEncontrado -> also match the refinement alone.
            return [local, *([local.split(".", 1)[1]] if "." in local else [])]
        codes: list[str] = []
        env = f"{{{self._env_ns}}}"
        level = fault.find(f"{env}Code")
        while level is not None:
            value = level.find(f"{env}Value")
            if value is not None and value.text:
                codes.append(_local(value.text.strip()))
            level = level.find(f"{env}Subcode")
        return codes


def _local(qname: str) -> str:
    return qname.rsplit(":", 1)[-1]


def _value(result: Any) -> Any:
    """An XPath result as a legacy value: element text, attribute or string; None if absent."""
    if isinstance(result, list):
        if not result:
            return None
        result = result[0]
    if isinstance(result, etree._Element):
        nil = result.get("{http://www.w3.org/2001/XMLSchema-instance}nil")
        if nil in {"true", "1"}:
            return None
        return "".join(t if isinstance(t, str) else t.decode() for t in result.itertext())
    if isinstance(result, (str, bytes)):
        return str(result) if isinstance(result, str) else result.decode()
    return result  # numbers and booleans from XPath functions


class SoapAdapterFactory:
    """Builds ``SoapAdapter`` from ``SoapSettings``."""

    kind: ClassVar[str] = "soap"
    settings_model: ClassVar[type[BaseModel]] = SoapSettings

    def build(self, settings: BaseModel) -> Adapter:
        """A closed adapter; the runtime opens it."""
        if not isinstance(settings, SoapSettings):
            raise TypeError("the soap adapter needs SoapSettings")
        return SoapAdapter(settings)


FACTORY = SoapAdapterFactory()
