"""``interop contracts ...``: filled in by the contracts issue."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Register nothing yet: the contracts commands arrive with the contracts issue."""
