"""The results: a JSON document and the short table, ratios first.

The machine is shared (2 cores for broker, gateways, providers and load generators, and
other people's tests), so absolute figures move from one minute to the next while the
ratio of two scenarios measured in the same round moves much less. Each ratio is
therefore taken per round (end to end and floor measured back to back) and reported as
the median of the rounds with min and max; absolute figures come second.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.audit_cost import AppendFigures, ProofFigures
from benchmarks.indexer_cost import IndexerFigures
from benchmarks.scenarios import DIRECT, E2E, FLOOR, SCALE_OUT, RunFigures
from benchmarks.stats import Spread, spread

__all__ = [
    "RATIOS",
    "configuration_line",
    "machine",
    "machine_line",
    "ratios",
    "render_text",
    "results_document",
]

Runs = Mapping[str, Mapping[int, Sequence[RunFigures]]]

RATIOS: tuple[tuple[str, str, str, str], ...] = (
    ("e2e/floor throughput", E2E, FLOOR, "throughput"),
    ("e2e/floor p99", E2E, FLOOR, "p99_ms"),
    ("e2e/direct throughput", E2E, DIRECT, "throughput"),
    ("e2e/direct p99", E2E, DIRECT, "p99_ms"),
    ("scale-out 2/1 throughput", SCALE_OUT, E2E, "throughput"),
)


def _value(run: RunFigures, figure: str) -> float | None:
    value: float | None = getattr(run, figure)
    return value


def ratios(runs: Runs) -> dict[str, dict[int, Spread | None]]:
    """Each ratio per concurrency: median/min/max over the rounds where both ran."""
    table: dict[str, dict[int, Spread | None]] = {}
    for label, top, bottom, figure in RATIOS:
        per: dict[int, Spread | None] = {}
        for concurrency in sorted(runs.get(top, {})):
            values = []
            # Rounds pair up by position: both scenarios ran back to back in round i.
            pairs = zip(
                runs[top][concurrency], runs.get(bottom, {}).get(concurrency, []), strict=False
            )
            for a, b in pairs:
                va, vb = _value(a, figure), _value(b, figure)
                if va is not None and vb:
                    values.append(va / vb)
            per[concurrency] = spread(values) if values else None
        table[label] = per
    return table


def _figure(runs: Sequence[RunFigures], figure: str) -> Spread | None:
    values = [v for v in (_value(r, figure) for r in runs) if v is not None]
    return spread(values) if values else None


def _cpu(runs: Sequence[RunFigures]) -> dict[str, Spread]:
    names = sorted({name for run in runs for name in run.cpu_ms_per_exchange})
    return {
        name: spread(
            [run.cpu_ms_per_exchange[name] for run in runs if name in run.cpu_ms_per_exchange]
        )
        for name in names
    }


def machine(load_average: Sequence[float] | None = None) -> dict[str, Any]:
    """What the figures were measured on; ``load_average`` (1, 5, 15 min) at the start."""
    model = platform.processor() or "unknown"
    memory_mb = None
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                memory_mb = int(line.split()[1]) // 1024
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_mb": memory_mb,
        "python": platform.python_version(),
        "system": platform.platform(),
        "load_average_at_start": [round(v, 2) for v in load_average] if load_average else None,
    }


def _spread_dict(value: Spread | None) -> dict[str, float] | None:
    return value.as_dict() if value is not None else None


def results_document(
    runs: Runs,
    *,
    appends: AppendFigures | None,
    indexer: IndexerFigures | None = None,
    proofs: Sequence[ProofFigures],
    options: Mapping[str, Any],
    configuration: Mapping[str, Any] | None = None,
    load_average: Sequence[float] | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """The JSON results file's content. ``configuration``: what ran (store, brokers,
    auth: ``BenchTarget.configuration``)."""
    scenarios: dict[str, Any] = {}
    for name, per in runs.items():
        scenarios[name] = {
            str(concurrency): {
                "runs": len(items),
                "throughput_per_s": _spread_dict(_figure(items, "throughput")),
                "p50_ms": _spread_dict(_figure(items, "p50_ms")),
                "p95_ms": _spread_dict(_figure(items, "p95_ms")),
                "p99_ms": _spread_dict(_figure(items, "p99_ms")),
                "errors": sum(r.errors for r in items),
                "error_kinds": _merge_kinds(items),
                "cpu_ms_per_exchange": {k: v.as_dict() for k, v in _cpu(items).items()},
            }
            for concurrency, items in sorted(per.items())
        }
    return {
        "machine": machine(load_average),
        "configuration": dict(configuration) if configuration is not None else None,
        "options": dict(options),
        "ratios": {
            label: {str(c): _spread_dict(s) for c, s in per.items()}
            for label, per in ratios(runs).items()
        },
        "scenarios": scenarios,
        "audit": {
            "indexer_events_per_s": indexer.events_per_s if indexer else None,
            "indexer_events": indexer.events if indexer else None,
            "append_events_per_s": appends.events_per_s if appends else None,
            "append_events": appends.events if appends else None,
            "proofs": [
                {
                    "size": p.size,
                    "inclusion_us": p.inclusion_us,
                    "consistency_us": p.consistency_us,
                    "inclusion_hashes": p.inclusion_hashes,
                    "consistency_hashes": p.consistency_hashes,
                }
                for p in proofs
            ],
        },
        "notes": list(notes),
    }


def _merge_kinds(items: Sequence[RunFigures]) -> dict[str, int]:
    merged: dict[str, int] = {}
    for run in items:
        for kind, count in run.error_kinds.items():
            merged[kind] = merged.get(kind, 0) + count
    return merged


def _store_name(doc: Mapping[str, Any]) -> str:
    configuration = doc.get("configuration") or {}
    return "PostgreSQL" if configuration.get("store") == "postgres" else "SQLite"


def _fmt(value: Mapping[str, float] | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{value['median']:.{digits}f} [{value['min']:.{digits}f}-{value['max']:.{digits}f}]"


def configuration_line(configuration: Mapping[str, Any] | None) -> str:
    """One line saying what was measured (the header's second line)."""
    if not configuration:
        return "configuration: not recorded"
    nodes = configuration["kafka_nodes"]
    brokers = "1 broker" if nodes == 1 else f"{nodes} brokers"
    return (
        f"configuration: {configuration['store']} store, audit indexer in its own process; "
        f"Kafka {brokers} (replication factor {configuration['replication_factor']}, "
        f"min.insync.replicas {configuration['min_insync_replicas']}, "
        f"acks={configuration['acks']}), auth: {configuration['kafka_auth']}"
    )


def machine_line(m: Mapping[str, Any]) -> str:
    """One line saying what it was measured on, with the load average at the start."""
    load = m.get("load_average_at_start")
    load_text = " ".join(f"{v:.2f}" for v in load) if load else "unknown"
    return (
        f"machine: {m['nproc']} CPU(s), {m['cpu_model']}, {m['memory_mb']} MB; "
        f"load average at start {load_text} (1/5/15 min)"
    )


def render_text(doc: Mapping[str, Any]) -> str:
    """The short table: ratios, absolute figures, CPU per exchange, audit cost."""
    lines = [
        f"interop bench: median [min-max] of {doc['options'].get('runs')} run(s) of "
        f"{doc['options'].get('duration_s')} s",
        configuration_line(doc.get("configuration")),
        machine_line(doc["machine"]),
        "",
        "Ratios (each taken within one round, then median [min-max]):",
    ]
    concurrencies = sorted({int(c) for per in doc["ratios"].values() for c in per})
    header = f"  {'':28}" + "".join(f"{'c=' + str(c):>24}" for c in concurrencies)
    lines.append(header)
    for label, per in doc["ratios"].items():
        cells = "".join(f"{_fmt(per.get(str(c))):>24}" for c in concurrencies)
        lines.append(f"  {label:28}{cells}")
    lines += ["", "Absolute figures (exchanges/s; latency ms):"]
    lines.append(
        f"  {'scenario':10}{'c':>4}{'exchanges/s':>26}"
        f"{'p50':>24}{'p95':>24}{'p99':>24}{'errors':>8}"
    )
    for name, per in doc["scenarios"].items():
        for c, fig in per.items():
            lines.append(
                f"  {name:10}{c:>4}{_fmt(fig['throughput_per_s'], 0):>26}"
                f"{_fmt(fig['p50_ms'], 1):>24}{_fmt(fig['p95_ms'], 1):>24}"
                f"{_fmt(fig['p99_ms'], 1):>24}"
                f"{fig['errors']:>8}"
            )
    lines += ["", "CPU ms per exchange, per process (median over runs):"]
    for name, per in doc["scenarios"].items():
        for c, fig in per.items():
            cpu = ", ".join(
                f"{proc} {v['median']:.3f}" for proc, v in fig["cpu_ms_per_exchange"].items()
            )
            lines.append(f"  {name:10}{c:>4}  {cpu}")
    audit = doc["audit"]
    lines += ["", "Audit log:"]
    if audit.get("indexer_events_per_s") is not None:
        lines.append(
            f"  indexer append (topic -> {_store_name(doc)} index + Merkle nodes): "
            f"{audit['indexer_events_per_s']:,.0f} events/s ({audit['indexer_events']:,} events)"
        )
    if audit["append_events_per_s"] is not None:
        lines.append(
            f"  Merkle tree append alone (leaf hash + nodes, in memory): "
            f"{audit['append_events_per_s']:,.0f} events/s ({audit['append_events']:,} events)"
        )
    for p in audit["proofs"]:
        lines.append(
            f"  size {p['size']:>9,}: inclusion proof {p['inclusion_us']:8.1f} us "
            f"({p['inclusion_hashes']:.1f} hashes), consistency proof "
            f"{p['consistency_us']:8.1f} us ({p['consistency_hashes']:.1f} hashes)"
        )
    for note in doc.get("notes", []):
        lines.append(f"note: {note}")
    return "\n".join(lines)
