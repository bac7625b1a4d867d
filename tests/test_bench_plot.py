"""bench/plot.py draws docs/bench.svg: one bar per engine and benchmark, relative to CPython, the
same bytes for the same numbers."""
from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from plot import plot  # noqa: E402

ROWS = {"fib": {"ref": 2.0, "fast": 0.5, "vm": 40.0, "evl": float("nan"), "python": 0.25},
        "loop": {"ref": 1.0, "fast": 0.2, "vm": 20.0, "evl": float("nan"), "python": 0.1}}


def test_the_picture(tmp_path: Path) -> None:
    a, b = tmp_path / "a.svg", tmp_path / "b.svg"
    plot(ROWS, a)
    plot(ROWS, b)
    text = a.read_text()
    ET.fromstring(text)  # well-formed SVG
    assert a.read_bytes() == b.read_bytes()  # deterministic
    for word in ("fib", "loop", "ref", "fast", "vm", "CPython"):
        assert word in text
    assert ">evl<" not in text  # an engine with no numbers is left out


def test_the_readme_shows_it() -> None:
    assert "docs/bench.svg" in (ROOT / "README.md").read_text()
    assert (ROOT / "docs" / "bench.svg").is_file()
