"""The ``file`` adapter: CSV and fixed-width exports indexed in memory, reloaded on change."""

from connectors.adapters.file.adapter import FACTORY, FileAdapter, FileAdapterFactory
from connectors.adapters.file.index import FileIndex, MalformedLine, build_index
from connectors.adapters.file.settings import FileSettings, FixedColumn

__all__ = [
    "FACTORY",
    "FileAdapter",
    "FileAdapterFactory",
    "FileIndex",
    "FileSettings",
    "FixedColumn",
    "MalformedLine",
    "build_index",
]
