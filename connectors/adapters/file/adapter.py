"""The ``file`` adapter: lookups in an in-memory index of the export, kept fresh by polling.

A watcher task stats the file every ``poll_interval_s``; when its (mtime, size, inode)
changes it builds a new index in a worker thread and replaces the old one in a single
assignment, so a lookup sees either the old export or the new one, never half of each.
A file that changes again while being read is read again at the next poll rather than
trusted. A failed reload (the file is gone, the header lost its key column) keeps the old
index and is logged; malformed lines are logged with their line numbers and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import structlog
from pydantic import BaseModel

from connectors.adapters.base import (
    Adapter,
    Found,
    LegacyConfigurationError,
    LegacyError,
    LegacyProtocolError,
    LookupResult,
    NotFound,
)
from connectors.adapters.file.index import FileIndex, build_index, file_stamp, normalise
from connectors.adapters.file.settings import FileSettings
from connectors.adapters.request_values import as_text, field_value

__all__ = ["FACTORY", "FileAdapter", "FileAdapterFactory"]

_log = structlog.get_logger(__name__)
_LOGGED_LINES: Final = 20
"""Malformed lines logged one by one per load; the rest are counted."""


class FileAdapter:
    """Answers from the latest complete load of one export file."""

    def __init__(self, settings: FileSettings) -> None:
        self._settings = settings
        self._index: FileIndex | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._failing: object = None
        """The stamp or reason of the last failed reload, so a broken file is logged once."""
        self.generation = 0
        """How many loads succeeded (tests and health checks wait on it)."""
        self.reload_failures = 0

    @property
    def index(self) -> FileIndex | None:
        """The load lookups currently answer from."""
        return self._index

    async def open(self) -> None:
        """Load the export (a failure refuses to start) and start watching it."""
        self._install(await self._load())
        self._watcher = asyncio.create_task(self._watch(), name=f"watch:{self._settings.path}")

    async def close(self) -> None:
        """Stop watching."""
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None

    async def lookup(self, request: Mapping[str, Any]) -> LookupResult:
        """The record whose key column equals the request's key field."""
        index = self._index
        if index is None:
            raise LegacyConfigurationError("the file adapter is not open")
        key = normalise(as_text(field_value(request, self._settings.key_field)), self._settings)
        record = index.records.get(key)
        if record is None:
            return NotFound()
        if key in index.duplicates and self._settings.multiple_rows == "error":
            raise LegacyProtocolError(
                "the export holds several lines for one key (multiple_rows: error)",
            )
        return Found(dict(record))

    async def reload_if_changed(self) -> bool:
        """One poll: reload when the file's stamp changed; True if a new index went in."""
        try:
            stamp = await asyncio.to_thread(file_stamp, self._settings.path)
        except OSError as exc:
            self._failed(type(exc).__name__, f"cannot stat the export ({type(exc).__name__})")
            return False
        if (self._index is not None and stamp == self._index.stamp) or stamp == self._failing:
            return False
        try:
            index = await self._load()
        except LegacyError as exc:
            self._failed(stamp, exc.detail)
            return False
        try:
            settled = await asyncio.to_thread(file_stamp, self._settings.path) == index.stamp
        except OSError:
            settled = False
        if not settled:
            # Still being written: read it again at the next poll instead of trusting it.
            _log.info("file_export_changing", file=self._settings.path.name)
            return False
        self._install(index)
        return True

    async def _load(self) -> FileIndex:
        return await asyncio.to_thread(build_index, self._settings)

    def _install(self, index: FileIndex) -> None:
        for bad in index.malformed[:_LOGGED_LINES]:
            _log.warning(
                "file_line_malformed",
                file=self._settings.path.name,
                line=bad.line,
                reason=bad.reason,
            )
        self._index = index  # one assignment: lookups see the old or the new load
        self._failing = None
        self.generation += 1
        _log.info(
            "file_export_loaded",
            file=self._settings.path.name,
            records=len(index.records),
            malformed_lines=len(index.malformed),
            duplicated_keys=len(index.duplicates),
            generation=self.generation,
        )

    def _failed(self, cause: object, reason: str) -> None:
        self.reload_failures += 1
        if cause == self._failing:
            return
        self._failing = cause
        _log.error(
            "file_reload_failed",
            file=self._settings.path.name,
            reason=reason,
            kept_generation=self.generation,
        )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self._settings.poll_interval_s)
            try:
                await self.reload_if_changed()
            except Exception:  # the watcher must outlive any one bad export
                _log.exception("file_watch_failed", file=self._settings.path.name)


class FileAdapterFactory:
    """Builds ``FileAdapter`` from ``FileSettings``."""

    kind: ClassVar[str] = "file"
    settings_model: ClassVar[type[BaseModel]] = FileSettings

    def build(self, settings: BaseModel) -> Adapter:
        """A closed adapter; the runtime opens it."""
        if not isinstance(settings, FileSettings):
            raise TypeError("the file adapter needs FileSettings")
        return FileAdapter(settings)


FACTORY = FileAdapterFactory()
