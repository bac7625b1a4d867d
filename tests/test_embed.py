"""Embedding in C: build/libilusm.so and examples/embed/example.c, built with gcc and run.

The example evaluates snippets, calls an ilusm function from C, gets a
runtime error and a syntax error back as text, registers a C function that
ilusm calls, and goes on after the script calls sys.exit. Skipped where gcc,
Python.h or a shared libpython is missing (tools/build_embed.py why_not).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import build_embed  # noqa: E402

pytestmark = pytest.mark.skipif(build_embed.why_not() is not None, reason=str(build_embed.why_not()))

EXPECTED = """\
eval rc=0 -> 385
eval rc=0 -> null
call rc=0 -> 14
eval rc=0 -> {"name": "ibot", "tags": ["a", true, null, 2.5]}
eval rc=1 -> error: boom
  at <module> (<embed>.ilu:1)
eval rc=2 -> <embed>.ilu:1:5: syntax error: unclosed '('
    x = (
        ^
eval rc=0 -> 142
eval rc=3 -> 7
eval rc=0 -> "still running"
"""


@pytest.fixture(scope="module")
def example() -> Path:
    build_embed.build_library()
    return build_embed.build_example()


def test_the_example_runs(example: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ILUSM_")}
    env["ILUSM_JIT_CACHE_DIR"] = "off"
    r = subprocess.run([str(example)], cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    from stage0 import __version__

    assert r.stdout == f"ilusm {__version__}\n" + EXPECTED


def test_a_session_from_python_alone() -> None:
    """The Python half without C: globals persist, values cross as JSON, bufs as {"$buf": hex}."""
    from stage0.embed import COMPILE_ERROR, ERROR, EXIT, OK, Session

    s = Session("io,time")
    assert s.eval("x = 20") == (OK, "null")
    assert s.eval("x + 22") == (OK, "42")
    assert s.eval("__buf_from_str(\"hi\")") == (OK, '{"$buf": "6869"}')
    assert s.eval("f(b) = __buf_len(b)") == (OK, "null")
    assert s.call("f", '[{"$buf": "010203"}]') == (OK, "3")
    assert s.eval("prn") == (ERROR, "error: a fn (prn) cannot be passed to C")
    assert s.eval("__sys_get_env(\"HOME\")")[1].startswith("error: capability 'env' is not granted")
    assert s.eval("(")[0] == COMPILE_ERROR
    assert s.eval("__sys_exit(4)") == (EXIT, "4")
    assert s.call("nope", "[]") == (ERROR, "error: no function named 'nope' in this session")
    assert s.call("f", "[1") [0] == ERROR
    s.close()


def test_run_file_keeps_functions_callable(tmp_path: Path) -> None:
    from stage0.embed import OK, Session

    (tmp_path / "lib.ilu").write_text("use trl\ntotal(xs) = trl.sum(xs)\n")
    s = Session(None)
    assert s.run_file(str(tmp_path / "lib.ilu")) == (OK, "null")
    assert s.call("total", "[[1, 2, 3.5]]") == (OK, "6.5")
