"""Adapter kinds by name: the ``adapter.kind`` of ``connector.yaml`` -> its package's FACTORY.

Packages are imported on first use, so a connector that reads a CSV file never imports
lxml or SQLAlchemy.
"""

from __future__ import annotations

import importlib
from typing import Final

from connectors.adapters.base import AdapterFactory, LegacyConfigurationError

__all__ = ["ADAPTER_KINDS", "UnknownAdapterKindError", "adapter_factory"]

_PACKAGES: Final[dict[str, str]] = {
    "file": "connectors.adapters.file",
    "rest": "connectors.adapters.rest",
    "soap": "connectors.adapters.soap",
    "sql": "connectors.adapters.sql",
}

ADAPTER_KINDS: Final = tuple(sorted(_PACKAGES))
"""Every adapter kind this release ships."""


class UnknownAdapterKindError(LegacyConfigurationError, ValueError):
    """``adapter.kind`` names no adapter; a ValueError too, so pydantic validators report it."""

    def __init__(self, kind: str) -> None:
        super().__init__(f"unknown adapter kind {kind!r}; known kinds: {', '.join(ADAPTER_KINDS)}")


def adapter_factory(kind: str) -> AdapterFactory:
    """The factory of adapter ``kind``; ``UnknownAdapterKindError`` lists the known kinds."""
    package = _PACKAGES.get(kind)
    if package is None:
        raise UnknownAdapterKindError(kind)
    factory: AdapterFactory = importlib.import_module(package).FACTORY
    return factory
