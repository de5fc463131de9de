"""The ``soap`` adapter: a SOAP 1.1/1.2 service, XPath-mapped answers, typed faults."""

from connectors.adapters.soap.adapter import FACTORY, SoapAdapter, SoapAdapterFactory
from connectors.adapters.soap.settings import SoapSettings
from connectors.adapters.soap.xml import UnsafeXmlError, parse_xml

__all__ = [
    "FACTORY",
    "SoapAdapter",
    "SoapAdapterFactory",
    "SoapSettings",
    "UnsafeXmlError",
    "parse_xml",
]
