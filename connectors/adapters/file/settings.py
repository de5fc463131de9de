"""Settings of the ``file`` adapter (the ``adapter:`` block with ``kind: file``)."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["FileSettings", "FixedColumn"]


class FixedColumn(BaseModel):
    """One field of a fixed-width record, positioned as a copybook does (1-based)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    start: int = Field(ge=1)
    """First character of the field, counting from 1."""
    length: int = Field(ge=1)

    @property
    def end(self) -> int:
        """Index (0-based, exclusive) just past the field."""
        return self.start - 1 + self.length


class FileSettings(BaseModel):
    """A CSV or fixed-width export keyed by one column, one record per line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["file"] = "file"
    path: Path
    format: Literal["csv", "fixed"]
    encoding: str = "utf-8"
    """Text encoding of the export; mainframe and old Windows exports are often latin-1."""
    key_column: str = Field(min_length=1)
    """The column holding the subject's identifier."""
    key_field: str = Field(min_length=1)
    """The request field (dotted path) compared with ``key_column``."""
    normalise_key: bool = True
    """Compare keys without surrounding blanks and case-insensitively (12345678z = 12345678Z)."""
    multiple_rows: Literal["error", "first", "last"] = "error"
    """A key on several lines: a PROTOCOL error on lookup, or the first or last line."""
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)
    header: bool = True
    """CSV: the first line names the columns. Otherwise ``columns`` does."""
    columns: list[str] | None = None
    """CSV column names when the file has no header line."""
    fixed_columns: list[FixedColumn] | None = None
    """Fixed-width layout."""
    skip_lines: int = Field(default=0, ge=0)
    """Lines to skip at the top (fixed-width header records), before any CSV header."""
    poll_interval_s: float = Field(default=2.0, gt=0, le=3600)
    """How often the file's mtime, size and inode are checked for a new export."""

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {encoding!r}") from None
        return encoding

    @model_validator(mode="after")
    def _layout(self) -> FileSettings:
        if self.format == "fixed":
            if not self.fixed_columns:
                raise ValueError("format 'fixed' needs fixed_columns")
            names = [c.name for c in self.fixed_columns]
        elif self.header:
            if self.columns is not None:
                raise ValueError("give either header: true or columns, not both")
            return self
        else:
            if not self.columns:
                raise ValueError("a CSV file without a header line needs columns")
            names = self.columns
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
        if self.key_column not in names:
            raise ValueError(f"key_column {self.key_column!r} is not one of the columns {names}")
        return self
