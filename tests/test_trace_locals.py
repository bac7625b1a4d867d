"""`ilusm run --locals` (and ILUSM_TRACE_LOCALS=1): an uncaught error's trace shows each frame's
locals, the same on the reference interpreter, the fast tier, the self-hosted VM and the evaluator;
every trace counts the frames tail calls removed (`  ... 2 tail calls ...`)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = """\
make(n) =
    k = n + 1
    \\(x) check(x + k, "a label") + 0
check(v, label) =
    big = 1..1000
    long = "0123456789012345678901234567890123456789012345678901234567890123456789"
    pairs = []
    i, w <- [7, 8]: push(pairs, [i, w])
    later = 0
    if v > 0: err("bad " + str(v))
    later = 1
f = make(4)
r = f(2) + 1
"""

EXPECTED = """\
error: bad 7
  at <module> (p.ilu:13)
  at anon (p.ilu:3)
      x = 2
  at check (p.ilu:10)
      v = 7, label = "a label", big = <lst of 1000>, \
long = "01234567890123456789012345678901234567890123456789012345..., \
pairs = [[0, 7], [1, 8]], i = 1, w = 8, later = 0
"""


def run(tmp_path: Path, args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "p.ilu").write_text(PROGRAM)
    full = {k: v for k, v in os.environ.items() if k != "ILUSM_TRACE_LOCALS"}
    return subprocess.run([sys.executable, "-m", "stage0", "run", *args, "p.ilu"], cwd=tmp_path, text=True,
                          capture_output=True, timeout=120, env={**full, **(env or {})})


@pytest.mark.parametrize("engine", ["ref", "fast", "vm", "evl"])
def test_locals_on_every_engine(tmp_path: Path, engine: str) -> None:
    r = run(tmp_path, ["--locals", "--engine", engine])
    assert r.returncode == 70
    assert r.stderr == EXPECTED


def test_environment_variable_and_default(tmp_path: Path) -> None:
    assert run(tmp_path, [], {"ILUSM_TRACE_LOCALS": "1"}).stderr == EXPECTED
    plain = run(tmp_path, []).stderr
    assert plain == "error: bad 7\n  at <module> (p.ilu:13)\n  at anon (p.ilu:3)\n  at check (p.ilu:10)\n"


TAILS = """\
bad(x) = x.field
hop(x) = bad(x)
count(n, x) = if n == 0: hop(x) | count(n - 1, x)
go(x) =
    r = count(3, x)
    r
f(n) = 1 + g(n)
g(n) = if n == 0: bad(n) | f(n - 1)
if __sys_args()[0] == "self": go(5) | f(5)
"""

TAILS_EXPECTED = {
    # count's frame replaced itself three times, then hop replaced it and bad replaced hop
    "self": "error: cannot read field 'field' of num\n  at <module> (p.ilu:9)\n  at go (p.ilu:5)\n"
            "      x = 5\n  ... 5 tail calls ...\n  at bad (p.ilu:1)\n      x = 5\n",
    # each g replaced by the f it calls: the pairs collapse like repeated lines
    "pair": "error: cannot read field 'field' of num\n  at <module> (p.ilu:9)\n  at f (p.ilu:7)\n"
            + "  ... 1 tail call ...\n  at f (p.ilu:7)\n" * 3
            + "  ... the 2 lines above repeated 2 more times\n  ... 1 tail call ...\n  at bad (p.ilu:1)\n",
}


@pytest.mark.parametrize("engine", ["ref", "fast", "vm", "evl"])
@pytest.mark.parametrize("case", sorted(TAILS_EXPECTED))
def test_tail_calls_are_counted_on_every_engine(tmp_path: Path, engine: str, case: str) -> None:
    (tmp_path / "p.ilu").write_text(TAILS)
    flags = ["--locals"] if case == "self" else []
    r = subprocess.run([sys.executable, "-m", "stage0", "run", *flags, "--engine", engine, "p.ilu", case],
                       cwd=tmp_path, text=True, capture_output=True, timeout=120)
    assert r.returncode == 70
    assert r.stderr == TAILS_EXPECTED[case]
