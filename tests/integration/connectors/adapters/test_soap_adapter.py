"""The soap adapter against a real aiohttp server speaking SOAP 1.1 and 1.2."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from lxml import etree

from connectors.adapters.base import Found, LegacyError, LegacyErrorKind, NotFound
from connectors.adapters.soap import SoapAdapter, SoapSettings
from tests.integration.connectors.adapters.http_servers import serve

ENV = {
    "1.1": "http://schemas.xmlsoap.org/soap/envelope/",
    "1.2": "http://www.w3.org/2003/05/soap-envelope",
}
TNS = "urn:aeat:renta"
ACTION = "urn:aeat:renta/ConsultaNivelRenta"

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<r:Respuesta xmlns:r="urn:aeat:renta"><r:Tramo>&lol9;</r:Tramo></r:Respuesta>
</soap:Body></soap:Envelope>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>
<r:Respuesta xmlns:r="urn:aeat:renta"><r:Tramo>&xxe;</r:Tramo></r:Respuesta>
</soap:Body></soap:Envelope>"""


def envelope(version: str, body: str) -> str:
    return f'<s:Envelope xmlns:s="{ENV[version]}"><s:Body>{body}</s:Body></s:Envelope>'


def fault(version: str, code: str, sub: str | None = None) -> str:
    if version == "1.1":
        full = f"s:{code}" + (f".{sub}" if sub else "")
        return (
            f"<s:Fault><faultcode>{full}</faultcode>"
            "<faultstring>NIF 12345678Z</faultstring></s:Fault>"
        )
    subcode = f"<s:Subcode><s:Value>r:{sub}</s:Value></s:Subcode>" if sub else ""
    return (
        f'<s:Fault xmlns:r="{TNS}"><s:Code><s:Value>s:{code}</s:Value>{subcode}</s:Code>'
        '<s:Reason><s:Text xml:lang="es">NIF 12345678Z</s:Text></s:Reason></s:Fault>'
    )


@dataclass
class TaxService:
    """What the fake AEAT service received."""

    bodies: list[bytes] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)


def soap_service(state: TaxService) -> web.Application:
    """A SOAP endpoint answering by NIF, in whichever SOAP version it was called."""

    async def handle(request: web.Request) -> web.Response:
        raw = await request.read()
        state.bodies.append(raw)
        state.headers.append(dict(request.headers))
        version = "1.2" if request.content_type == "application/soap+xml" else "1.1"
        ctype = "application/soap+xml" if version == "1.2" else "text/xml"
        nif = etree.fromstring(raw).findtext(f".//{{{TNS}}}NIF") or ""
        if nif == "BOMB":
            return web.Response(body=BILLION_LAUGHS, content_type="text/xml")
        if nif == "XXE":
            return web.Response(body=XXE, content_type="text/xml")
        if nif == "HTML":
            return web.Response(
                text="<html><body>Bad gateway", status=502, content_type="text/html"
            )
        if nif == "NOTSOAP":
            return web.Response(text="<r:Respuesta xmlns:r='urn:aeat:renta'/>", content_type=ctype)
        faults = {
            "UNKNOWN": ("Client" if version == "1.1" else "Sender", "NoEncontrado", 500),
            "BADREQ": ("Client" if version == "1.1" else "Sender", "FormatoIncorrecto", 500),
            "DOWN": ("Server" if version == "1.1" else "Receiver", None, 500),
            "WEIRD": ("VersionMismatch", None, 500),
        }
        if nif in faults:
            code, sub, status = faults[nif]
            text = envelope(version, fault(version, code, sub))
            return web.Response(text=text, status=status, content_type=ctype)
        body = (
            f'<r:Respuesta xmlns:r="{TNS}"><r:Declaracion ejercicio="2024">'
            "<r:Presentada>S</r:Presentada><r:Tramo>2</r:Tramo>"
            '<r:Conjunta xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>'
            "</r:Declaracion></r:Respuesta>"
        )
        return web.Response(text=envelope(version, body), content_type=ctype)

    app = web.Application()
    app.router.add_post("/ws/renta", handle)
    return app


def settings(url: str, version: str = "1.1", **overrides: Any) -> SoapSettings:
    values: dict[str, Any] = {
        "endpoint": url + "/ws/renta",
        "soap_version": version,
        "soap_action": ACTION,
        "envelope": envelope(
            version,
            f'<r:ConsultaNivelRenta xmlns:r="{TNS}"><r:NIF>{{nif}}</r:NIF>'
            "<r:Ejercicio>{fiscal_year}</r:Ejercicio></r:ConsultaNivelRenta>",
        ),
        "namespaces": {"r": TNS},
        "record_xpath": "//r:Respuesta/r:Declaracion",
        "fields": {
            "presentada": "r:Presentada",
            "tramo": "r:Tramo",
            "conjunta": "r:Conjunta",
            "ejercicio": "@ejercicio",
        },
        "not_found_fault_codes": ["NoEncontrado"],
        "timeout_s": 5,
        **overrides,
    }
    return SoapSettings.model_validate(values)


@pytest.fixture
async def service() -> AsyncIterator[tuple[TaxService, str]]:
    """The fake tax agency, running."""
    state = TaxService()
    async with serve(soap_service(state)) as url:
        yield state, url


@pytest.fixture(params=["1.1", "1.2"])
async def adapter(
    request: pytest.FixtureRequest, service: tuple[TaxService, str]
) -> AsyncIterator[SoapAdapter]:
    """An opened adapter speaking SOAP 1.1, then 1.2."""
    opened = SoapAdapter(settings(service[1], request.param))
    await opened.open()
    yield opened
    await opened.close()


def ask(nif: str) -> dict[str, Any]:
    return {"nif": nif, "fiscal_year": 2024}


async def test_record_fields_by_xpath(adapter: SoapAdapter) -> None:
    """Element texts, an attribute and xsi:nil (None) come back as legacy fields."""
    result = await adapter.lookup(ask("12345678Z"))
    assert isinstance(result, Found)
    assert result.record == {"presentada": "S", "tramo": "2", "conjunta": None, "ejercicio": "2024"}


async def test_headers_per_soap_version(service: tuple[TaxService, str]) -> None:
    """1.1 sends text/xml and SOAPAction; 1.2 puts the action in application/soap+xml."""
    state, url = service
    for version in ("1.1", "1.2"):
        adapter = SoapAdapter(settings(url, version))
        await adapter.open()
        try:
            await adapter.lookup(ask("12345678Z"))
        finally:
            await adapter.close()
    one, two = state.headers[-2:]
    assert one["Content-Type"].startswith("text/xml")
    assert one["SOAPAction"] == f'"{ACTION}"'
    assert two["Content-Type"].startswith("application/soap+xml")
    assert f'action="{ACTION}"' in two["Content-Type"]
    assert "SOAPAction" not in two


async def test_request_values_are_xml_escaped(
    adapter: SoapAdapter, service: tuple[TaxService, str]
) -> None:
    """Markup in a value is text in the envelope, not elements."""
    await adapter.lookup(ask("</r:NIF><r:Admin>1</r:Admin>&'\""))
    sent = etree.fromstring(service[0].bodies[-1])
    assert sent.findtext(f".//{{{TNS}}}NIF") == "</r:NIF><r:Admin>1</r:Admin>&'\""
    assert sent.find(f".//{{{TNS}}}Admin") is None


@pytest.mark.parametrize(
    ("nif", "kind", "retriable"),
    [
        ("BADREQ", LegacyErrorKind.REJECTED, False),
        ("DOWN", LegacyErrorKind.UNAVAILABLE, True),
        ("WEIRD", LegacyErrorKind.PROTOCOL, False),
        ("HTML", LegacyErrorKind.UNAVAILABLE, True),
        ("NOTSOAP", LegacyErrorKind.PROTOCOL, False),
    ],
)
async def test_faults_and_bad_answers_are_typed(
    adapter: SoapAdapter, nif: str, kind: LegacyErrorKind, retriable: bool
) -> None:
    """Client/Sender -> REJECTED, Server/Receiver -> UNAVAILABLE; fault strings are not copied."""
    with pytest.raises(LegacyError) as caught:
        await adapter.lookup(ask(nif))
    assert caught.value.kind is kind
    assert caught.value.retriable is retriable
    assert "12345678Z" not in str(caught.value)


async def test_configured_fault_code_is_not_found(adapter: SoapAdapter) -> None:
    """The service's NoEncontrado fault means the subject is unknown."""
    assert isinstance(await adapter.lookup(ask("UNKNOWN")), NotFound)


async def test_billion_laughs_is_refused_not_expanded(adapter: SoapAdapter) -> None:
    """An entity bomb is refused as PROTOCOL before anything is expanded."""
    with pytest.raises(LegacyError, match="DOCTYPE") as caught:
        await adapter.lookup(ask("BOMB"))
    assert caught.value.kind is LegacyErrorKind.PROTOCOL
    assert not caught.value.retriable


async def test_external_entities_are_not_read(adapter: SoapAdapter) -> None:
    """An XXE body is refused; no local file content can reach the record."""
    with pytest.raises(LegacyError, match="DOCTYPE") as caught:
        await adapter.lookup(ask("XXE"))
    assert "root:" not in str(caught.value)


async def test_not_found_xpath(service: tuple[TaxService, str]) -> None:
    """A body-level not-found marker, by XPath over the answer."""
    adapter = SoapAdapter(
        settings(service[1], not_found_xpath="//r:Declaracion/r:Presentada = 'S'")
    )
    await adapter.open()
    try:
        assert isinstance(await adapter.lookup(ask("12345678Z")), NotFound)
    finally:
        await adapter.close()


def test_settings_refuse_bad_xpath_and_wrong_envelope() -> None:
    """Start-up errors name the setting: a broken XPath, a 1.1 envelope declared as 1.2."""
    with pytest.raises(ValueError, match=r"fields\.tramo: not a valid XPath"):
        settings("http://x", fields={"tramo": "r:Tramo["})
    with pytest.raises(ValueError, match=r"root must be a SOAP 1\.2 Envelope"):
        settings("http://x", "1.1", soap_version="1.2")
    with pytest.raises(ValueError, match="DOCTYPE"):
        settings("http://x", envelope='<!DOCTYPE x []><x xmlns="urn:x"/>')
