"""The command line as people expect it: trace collapsing, `ilusm FILE`, `run -`, `-e`,
`--trace` offsets, the path convention in errors, and the README's examples.

In-process through tests/cli_util.py where possible; a real process where
standard input is under test.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_util import ilusm

from stage0.errors import RuntimeErr

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["ref", "fast"]


def write(path: Path, text: str) -> str:
    """Write a UTF-8 file (making its folder) and return its path as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_render_collapses_runs_longer_than_three() -> None:
    e = RuntimeErr("boom")
    e.trace = [("<module>", "p.ilu", 9)] + [("f", "p.ilu", 2)] * 6 + [("g", "p.ilu", 1)] * 3
    assert e.render() == "\n".join([
        "error: boom",
        "  at <module> (p.ilu:9)",
        "  at f (p.ilu:2)",
        "  at f (p.ilu:2)",
        "  at f (p.ilu:2)",
        "  ... the line above repeated 3 more times",
        "  at g (p.ilu:1)",
        "  at g (p.ilu:1)",
        "  at g (p.ilu:1)",
    ])


def test_render_keeps_alternating_lines() -> None:
    e = RuntimeErr("boom")
    e.trace = [("f", "p.ilu", 1), ("g", "p.ilu", 2)] * 3
    assert e.render().count("\n") == 6 and "repeated" not in e.render()


@pytest.mark.parametrize("engine", ENGINES)
def test_stack_overflow_trace_is_short(tmp_path: Path, engine: str) -> None:
    p = write(tmp_path / "deep.ilu", "down(n) = 1 + down(n + 1)\ndown(0)\n")
    code, out, err = ilusm("run", "--engine", engine, "--max-depth", "500", p)
    assert code == 70 and out == ""
    assert err.splitlines() == [
        "error: stack overflow",
        f"  at <module> ({p}:2)",
        f"  at down ({p}:1)",
        f"  at down ({p}:1)",
        f"  at down ({p}:1)",
        "  ... the line above repeated 496 more times",
    ]
