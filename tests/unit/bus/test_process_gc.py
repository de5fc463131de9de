"""``freeze_startup_objects``: what start-up built is out of the collector's walks."""

from __future__ import annotations

import gc

from bus import freeze_startup_objects


def test_startup_objects_are_frozen_and_later_garbage_is_still_collected() -> None:
    class Node:
        def __init__(self) -> None:
            self.other: Node | None = None

    kept = [Node() for _ in range(100)]  # "start-up": lives as long as the process
    thresholds = gc.get_threshold()
    try:
        freeze_startup_objects("test")
        assert gc.get_freeze_count() >= len(kept)
        assert gc.get_threshold() == (7_000, *thresholds[1:])
        assert not any(gc.is_tracked(n) and n in gc.get_objects(generation=2) for n in kept[:3])
        # A cycle made after start-up is garbage the collector still finds.
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2
    finally:
        gc.unfreeze()  # the rest of the test session walks as before
        gc.set_threshold(*thresholds)
