"""The garbage collector of a long-running process: start-up's objects set aside, and
young passes less often.

Measured in ``interop bench`` at c=64 (``docs/benchmarks.md``, "seventh steps"): the
gateway, the connector and the audit indexer each spent 7-9% of their CPU in the cyclic
garbage collector. Two causes:

- full (generation 2) passes of about 100 ms, each walking every object start-up made
  (modules, the catalogue's parsed schemas, pydantic models, aiohttp's and aiokafka's
  machinery), none of which ever becomes garbage. ``gc.freeze()`` moves them to a
  generation the collector never walks.
- a young pass every 700 net allocations: about 50 a second per process under load, each
  also walking the exchanges in flight. Reference counting already frees almost
  everything an exchange makes; the cycles left wait for a pass every 7,000 instead.

Together: 0.1-0.5% of the CPU instead of 7-9%. Reference counting frees everything as before;
a cycle among the frozen objects would never be reclaimed, and start-up makes none that
does not live as long as the process.
"""

from __future__ import annotations

import gc
from typing import Final

import structlog

__all__ = ["freeze_startup_objects"]

_log = structlog.get_logger(__name__)
_YOUNG_THRESHOLD: Final = 7_000
"""Net allocations between young passes (Python's default: 700)."""


def freeze_startup_objects(component: str) -> None:
    """Collect start-up's garbage once, freeze what survives, and make young passes rarer
    (call once started)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(_YOUNG_THRESHOLD, older, oldest)
    _log.debug("startup_objects_frozen", component=component, frozen=gc.get_freeze_count())
