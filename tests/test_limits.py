"""The nesting limit (MAX_NESTING = 1000) through the `ilusm` command: every
kind of nesting, both compilers, both engines, the same answer at the same
place; and programs just inside the limit run (the fast tier spills deep
expressions into variables rather than handing CPython a 1000-deep one)."""
from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import ilusm

LIMIT = 1000


def source(kind: str, n: int) -> str:
    """A program nesting `kind` n levels deep that prints one line."""
    if kind == "paren":
        return "x = " + "(" * n + "1" + ")" * n + "\nprn x\n"
    if kind == "unary":
        return "x = " + "- " * n + "1\nprn x\n"
    if kind == "block":
        return "".join("    " * i + "if tru:\n" for i in range(n)) + "    " * n + "prn 1\n"
    if kind == "lambda":
        return "f = " + "\\() " * n + "1\nprn typ(f)\n"
    assert kind == "list"
    return "x = " + "[" * n + "]" * n + "\nprn len(x)\n"


# The first position past the limit, per kind (line, col).
PAST = {"paren": (1, 1005), "unary": (1, 2005), "block": (1001, 4004), "lambda": (1, 4005), "list": (1, 1005)}
WANT = {"paren": "1", "unary": "-1", "block": "1", "lambda": "fn", "list": "1"}
PATHS = [["--compiler", "seed"], ["--compiler", "self", "--engine", "ref"], ["--compiler", "self"]]


@pytest.mark.parametrize("kind", sorted(PAST))
def test_just_inside_the_limit_runs_everywhere(tmp_path: Path, kind: str) -> None:
    f = tmp_path / f"{kind}.ilu"
    f.write_text(source(kind, LIMIT - 1))
    for path in PATHS:
        code, out, err = ilusm("run", *path, str(f))
        assert (code, out.strip(), err) == (0, WANT[kind], ""), path


@pytest.mark.parametrize("kind", sorted(PAST))
def test_past_the_limit_is_the_same_syntax_error_everywhere(tmp_path: Path, kind: str) -> None:
    f = tmp_path / f"{kind}.ilu"
    f.write_text(source(kind, LIMIT + 1))
    line, col = PAST[kind]
    for path in PATHS:
        code, out, err = ilusm("run", *path, str(f))
        assert code == 65 and out == "", path
        assert err.splitlines()[0] == f"{f}:{line}:{col}: syntax error: too deeply nested", path
