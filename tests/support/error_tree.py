"""Every exception class the project's packages define, found by importing each module."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Final

__all__ = ["PACKAGES", "defined_exceptions"]

PACKAGES: Final = ("contracts", "bus", "gateway", "connectors", "interop")


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Qualified name -> class, for every exception class defined in ``PACKAGES``."""
    found: dict[str, type[BaseException]] = {}
    for name in PACKAGES:
        package = importlib.import_module(name)
        for info in pkgutil.walk_packages(package.__path__, f"{name}."):
            if info.name.endswith("__main__"):
                continue
            module = importlib.import_module(info.name)
            for obj in vars(module).values():
                if (
                    isinstance(obj, type)
                    and issubclass(obj, BaseException)
                    and obj.__module__ == module.__name__
                ):
                    found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return found
