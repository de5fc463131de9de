"""The composition root: the ``interop`` command line and the root settings object.

This is the only package that imports all four product packages (contracts, bus,
gateway, connectors); each of those stays independent of the command line.
"""

__all__: list[str] = []
