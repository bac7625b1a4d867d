"""docs/bench.svg: each benchmark's time on each engine relative to CPython, on a log scale.

`bench/run.py --svg PATH` calls `plot` with what it measured. The picture is
deterministic for the same numbers (no date, fixed ids), so re-running the
benchmarks changes the file only when the numbers change.
"""
from __future__ import annotations

from pathlib import Path

ENGINES = ("ref", "fast", "vm", "evl")


def plot(rows: dict[str, dict[str, float]], path: Path) -> None:
    """rows: benchmark -> {engine: seconds, ..., "python": seconds}; writes an SVG bar chart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "ilusm-bench"
    names = list(rows)
    engines = [e for e in ENGINES if any(e in r and r[e] == r[e] for r in rows.values())]  # skip all-NaN
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / max(len(engines), 1)
    for i, engine in enumerate(engines):
        ratios = [rows[n].get(engine, float("nan")) / rows[n]["python"] for n in names]
        ax.bar([x + i * width for x in range(len(names))], ratios, width, label=engine)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_yscale("log")
    ax.set_ylabel("time / CPython's time (log scale)")
    ax.set_xticks([x + width * (len(engines) - 1) / 2 for x in range(len(names))], names)
    ax.set_title("ilusm engines against CPython on the same programs (lower is faster)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
