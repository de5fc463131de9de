"""The demo tax agency: a SOAP 1.1 service answering income-band queries (aiohttp).

It behaves like the legacy services Spanish registries still run: one operation,
``ConsultaNivelRenta`` (NIF and fiscal year in, whether a return was filed, the income
band code and whether it was joint out), SOAP faults for everything else: an unknown
taxpayer is ``soap:Client.NoEncontrado``, a year it holds no data for
``soap:Client.EjercicioNoDisponible``, a malformed request ``soap:Client``. Requests are
parsed with the same safe parser as the adapter's.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import web

from connectors.adapters.base import LegacyError
from connectors.adapters.soap.xml import parse_xml, xml_text
from connectors.demo.registries import TAX_FILE

__all__ = [
    "SOAP_ACTION",
    "TAX_NAMESPACE",
    "TAX_PATH",
    "RunningTaxAgency",
    "start_tax_agency",
    "tax_agency_app",
]

SOAP_11: Final = "http://schemas.xmlsoap.org/soap/envelope/"
TAX_NAMESPACE: Final = "urn:es:aeat:demo:nivelrenta:1"
TAX_PATH: Final = "/aeat/ws/NivelRenta"
SOAP_ACTION: Final = f"{TAX_NAMESPACE}#ConsultaNivelRenta"
_MAX_REQUEST_BYTES: Final = 64 * 1024

TaxRecords = Mapping[str, Mapping[str, Mapping[str, str]]]
"""NIF -> fiscal year -> {presentada, tramo, conjunta}."""


def _envelope(body: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_11}"><soapenv:Body>{body}'
        "</soapenv:Body></soapenv:Envelope>"
    )


def _fault(code: str, text: str) -> web.Response:
    body = (
        f"<soapenv:Fault><faultcode>soapenv:{code}</faultcode>"
        f"<faultstring>{xml_text(text)}</faultstring></soapenv:Fault>"
    )
    return web.Response(text=_envelope(body), status=500, content_type="text/xml", charset="utf-8")


def tax_agency_app(records: TaxRecords) -> web.Application:
    """The aiohttp application serving ``records`` at ``TAX_PATH``."""

    async def consulta(request: web.Request) -> web.Response:
        if request.content_length is not None and request.content_length > _MAX_REQUEST_BYTES:
            return _fault("Client", "Peticion demasiado grande")
        raw = await request.content.read(_MAX_REQUEST_BYTES + 1)
        try:
            root = parse_xml(raw)
        except LegacyError:
            return _fault("Client", "Peticion mal formada")
        nif = (root.findtext(f".//{{{TAX_NAMESPACE}}}NIF") or "").strip().upper()
        year = (root.findtext(f".//{{{TAX_NAMESPACE}}}Ejercicio") or "").strip()
        if not nif or not year.isdigit():
            return _fault("Client", "Faltan NIF o Ejercicio")
        years = records.get(nif)
        if years is None:
            return _fault("Client.NoEncontrado", "Contribuyente no encontrado")
        data = years.get(year)
        if data is None:
            return _fault("Client.EjercicioNoDisponible", "Ejercicio no disponible")
        result = (
            f'<ren:ConsultaNivelRentaResponse xmlns:ren="{TAX_NAMESPACE}"><ren:Resultado>'
            f"<ren:Ejercicio>{xml_text(year)}</ren:Ejercicio>"
            f"<ren:DeclaracionPresentada>{data['presentada']}</ren:DeclaracionPresentada>"
            f"<ren:TramoRenta>{data['tramo']}</ren:TramoRenta>"
            f"<ren:Conjunta>{data['conjunta']}</ren:Conjunta>"
            "</ren:Resultado></ren:ConsultaNivelRentaResponse>"
        )
        return web.Response(text=_envelope(result), content_type="text/xml", charset="utf-8")

    app = web.Application(client_max_size=_MAX_REQUEST_BYTES)
    app.router.add_post(TAX_PATH, consulta)
    return app


@dataclass
class RunningTaxAgency:
    """A started demo tax agency; ``stop()`` it."""

    url: str
    """The SOAP endpoint."""
    _runner: web.AppRunner

    async def stop(self) -> None:
        """Stop serving."""
        await self._runner.cleanup()


async def start_tax_agency(
    data_dir: Path, *, host: str = "127.0.0.1", port: int = 0
) -> RunningTaxAgency:
    """Serve the returns in ``data_dir`` (see ``create_demo_registries``); port 0 picks one."""
    records: TaxRecords = json.loads((data_dir / TAX_FILE).read_text())
    runner = web.AppRunner(tax_agency_app(records), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1]
    return RunningTaxAgency(f"http://{host}:{bound}{TAX_PATH}", runner)
