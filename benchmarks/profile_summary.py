"""Top costs of a process profiled by ``interop bench --profile`` (pyinstrument sessions).

pyinstrument samples the main thread's stack by wall-clock time; time spent waiting in
the event loop's ``select``/``epoll`` is idle, not cost, so it is left out and the rest is
ranked by self time (the function itself, not its callees), grouped by function. The
result says where a process's busy time goes: ours (``bus/``, ``gateway/``...) or a
library's (aiokafka's protocol code, SQLAlchemy, json...).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pyinstrument.session import Session

__all__ = ["Cost", "ProcessProfile", "render", "summarize"]

_IDLE: Final = frozenset({"poll", "select", "epoll.poll", "EpollSelector.select"})


@dataclass(frozen=True, slots=True)
class Cost:
    """Self time of one function, and its share of the process's busy time."""

    seconds: float
    share: float
    function: str
    where: str


@dataclass(frozen=True, slots=True)
class ProcessProfile:
    """The busy time of one profiled process and its top costs, two ways: by the function
    that spent it, and by the innermost function of ours (the project's packages) that
    was running when it was spent, which is what a fix in this repository can change."""

    name: str
    duration_s: float
    busy_s: float
    startup_s: float
    """Time spent importing modules (start-up), left out of the rankings."""
    top: list[Cost]
    top_ours: list[Cost]


_CALLBACK: Final = ("_run", "asyncio/events.py")
_OURS: Final = ("bus/", "gateway/", "connectors/", "contracts/", "benchmarks/", "interop/")


def _is_ours(where: str) -> bool:
    return where.startswith(_OURS) and ".venv" not in where


def summarize(path: Path, *, top: int = 10) -> ProcessProfile:
    """Load one ``.pyisession`` file and rank where its busy (non-idle) time went."""
    session = Session.load(str(path))
    root = session.root_frame()
    costs: Counter[tuple[str, str]] = Counter()
    ours: Counter[tuple[str, str]] = Counter()

    startup = 0.0

    def walk(frame: Any, inside: tuple[str, str] | None) -> None:
        nonlocal startup
        # pyinstrument condenses a function's own time into a synthetic "[self]" child:
        # charge it to the function it belongs to.
        owner = frame.parent if frame.function == "[self]" and frame.parent else frame
        key = (str(owner.function), str(owner.file_path_short or ""))
        if key[0] == "_find_and_load" and frame is owner:
            # Importing (start-up) is paid once, not per exchange: counted apart.
            startup += frame.time
            return
        own = frame.time - sum(child.time for child in frame.children)
        if key == _CALLBACK:
            inside = None  # a loop callback's cost is its own code's, not the entry point's
        elif _is_ours(key[1]):
            inside = key
        if key[0] not in _IDLE and own > 0:
            costs[key] += own
            ours[inside or ("(outside our code)", "")] += own
        for child in frame.children:
            walk(child, inside)

    if root is not None:
        walk(root, None)
    total = sum(costs.values()) or 1.0

    def ranked(counter: Counter[tuple[str, str]]) -> list[Cost]:
        return [
            Cost(seconds, seconds / total, function, where)
            for (function, where), seconds in counter.most_common(top)
        ]

    return ProcessProfile(
        name=path.stem,
        duration_s=float(session.duration),
        busy_s=sum(costs.values()),
        startup_s=startup,
        top=ranked(costs),
        top_ours=ranked(ours),
    )


def render(profiles: list[ProcessProfile]) -> str:
    """The profile section of the bench's output."""
    lines = ["Profile (pyinstrument, main thread; share of busy time, idle and imports out):"]
    for profile in profiles:
        lines.append(f"  {profile.name}: busy {profile.busy_s:.1f} s of {profile.duration_s:.1f} s")
        lines.append("    by function:")
        lines += [f"      {c.share:6.1%}  {c.function}  {c.where}" for c in profile.top]
        lines.append("    by the innermost function of ours:")
        lines += [f"      {c.share:6.1%}  {c.function}  {c.where}" for c in profile.top_ours]
    return "\n".join(lines)
