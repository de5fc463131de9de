"""The ``interop`` console script: one parser, one module per subcommand group.

Each command module exposes ``register(subparsers)`` and sets ``handler`` on its parsers;
a handler returns the process exit code. Errors that interop-bus raises on purpose
(``InteropError``) are printed as one line, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bus import configure_logging
from contracts.errors import InteropError
from interop import (
    acls_cmd,
    audit_cmd,
    batch_cmd,
    bench_cmd,
    config_reference,
    connector_cmd,
    contracts_cmd,
    dev_cmd,
    gateway_cmd,
    kafka_cmd,
    keys_cmd,
    topics_cmd,
)
from interop.file_modes import private_umask

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]

_COMMAND_MODULES = (
    dev_cmd,
    kafka_cmd,
    contracts_cmd,
    gateway_cmd,
    connector_cmd,
    topics_cmd,
    acls_cmd,
    keys_cmd,
    audit_cmd,
    batch_cmd,
    config_reference,
    bench_cmd,
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``interop`` parser (also used by tests that check the docs)."""
    parser = argparse.ArgumentParser(
        prog="interop",
        description="interop-bus: data exchange between public administrations over Kafka.",
    )
    parser.add_argument(
        "--log-format",
        choices=("auto", "json", "console"),
        default="auto",
        help="log lines on stderr: JSON, console, or auto (console on a terminal, else JSON)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also used by ``python -m interop``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    # Everything the commands write holds a secret or personal data (file_modes.py).
    private_umask()
    # Logging is configured once, here; logs go to stderr so stdout stays the
    # command's own output (a bootstrap address, a JSON document) for scripts to read.
    configure_logging({"auto": None, "json": True, "console": False}[args.log_format])
    try:
        return handler(args)
    except InteropError as exc:
        print(f"interop: error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover - exercised through the console script
    sys.exit(main())
