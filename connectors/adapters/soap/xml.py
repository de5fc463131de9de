"""Safe XML for legacy answers: no DTDs, no entities, no network, bounded trees.

A SOAP message must not contain a document type declaration (SOAP 1.1 section 3, SOAP
1.2 part 1 section 5), so any DOCTYPE is refused outright: that turns away billion-laughs
entity bombs and external-entity (XXE) reads before anything is expanded. The parser is
also configured never to resolve entities, load a DTD or touch the network, and lxml's
``huge_tree=False`` keeps libxml2's depth and size limits.
"""

from __future__ import annotations

import re
from typing import Final

from lxml import etree

from connectors.adapters.base import (
    LegacyProtocolError,
    LegacyRejectedError,
)

__all__ = ["UnsafeXmlError", "parse_xml", "xml_text"]

_DOCTYPE: Final = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
# XML 1.0 allows tab, newline, carriage return and these ranges; nothing else may be sent.
_NOT_XML_CHAR: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class UnsafeXmlError(LegacyProtocolError):
    """An answer with a DTD or entities: refused, never expanded."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
        remove_pis=True,
    )


def parse_xml(body: bytes) -> etree._Element:
    """The root element of ``body``; ``LegacyError(PROTOCOL)`` if unsafe or not XML."""
    if _DOCTYPE.search(body):
        raise UnsafeXmlError("the answer declares a DOCTYPE (refused: entities are not expanded)")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as exc:
        raise LegacyProtocolError(
            f"the answer is not well-formed XML (line {exc.lineno})"
        ) from None
    # lxml-stubs lack DocInfo.doctype; the regex above already caught every DOCTYPE.
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise UnsafeXmlError("the answer declares a DOCTYPE (refused: entities are not expanded)")
    return root


def xml_text(value: str) -> str:
    """``value`` escaped for XML text and attribute values; refuses characters XML lacks."""
    if _NOT_XML_CHAR.search(value):
        raise LegacyRejectedError("a request value holds characters XML 1.0 cannot carry")
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("'", "&apos;")
    )
