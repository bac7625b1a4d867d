"""The tree-walking evaluator (lib/runtime/evl.ilu, `--engine evl`) against the reference interpreter.

evl shares no execution code with the compilers or the VMs, so agreeing with
`ref` on every spec program (status, output, error message and trace) is a
third, independent check of the language. Programs that do not compile are
reported by the host before any engine runs, so they are not run here.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from test_fast import FILES, program

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import UsageError
from stage0.image.model import Image
from stage0.toolchain.engines import execute
from stage0.toolchain.programs import load_program

Result = tuple[int, str, str]


def run(path: Path, engines: tuple[str, ...], max_depth: int = 10_000) -> list[Result]:
    """Compile a source file once from its own folder and run it on each engine, as `ilusm run`
    does; a compile error is the same result for every engine."""
    results: list[Result] = []
    old, limit = os.getcwd(), sys.getrecursionlimit()
    os.chdir(path.parent)
    try:
        images: list[Image] = []
        err = io.StringIO()
        status = in_big_stack(lambda: guarded(lambda: images.append(load_program(path.name, "self")[0]) or 0, err))
        for engine in engines:
            results.append(run_image(images[0], engine, Path(path.name), max_depth) if images
                           else (status, "", err.getvalue()))
    finally:
        os.chdir(old)
        sys.setrecursionlimit(limit)
    return results


def run_image(image: Image, engine: str, origin: Path, max_depth: int) -> Result:
    """Run a compiled program on an engine; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    status = in_big_stack(lambda: guarded(lambda: execute(image, [], max_depth, out=out, engine=engine,
                                                          origin=origin), err))
    return status, out.getvalue(), err.getvalue()


# What the evaluator does not do, by design (documented where the feature is): it keeps no
# compiled prototypes, so rfl.upvals and rfl.src have nothing to read (docs/stdlib.md, rfl).
NOT_ON_EVL = {"stdlib_rfl/introspect.ilu": "__rfl_upvals: this engine cannot look inside its functions"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spec_program_same_on_evl(path: Path) -> None:
    ref, evl = run(path, ("ref", "evl"))
    expected = NOT_ON_EVL.get(f"{path.parent.name}/{path.name}")
    if expected is not None:
        assert evl[0] == 70 and expected in evl[2], evl
        return
    assert evl == ref


def same(tmp_path: Path, text: str, max_depth: int = 10_000) -> Result:
    """Write text to a file, run it on ref and on evl; they must agree; give the result."""
    path = tmp_path / "p.ilu"
    path.write_text(text, encoding="utf-8")
    ref, evl = run(path, ("ref", "evl"), max_depth)
    assert evl == ref
    return ref


def test_deep_recursion_ends_in_the_catchable_stack_overflow(tmp_path: Path) -> None:
    text = "deep = [0]\nf(n) =\n    deep[0] = n\n    f(n + 1) + 1\nprn(try(\\() f(1)).err, deep[0])\nf(1)\n"
    status, out, err = same(tmp_path, text, max_depth=2_000)
    assert out == "stack overflow 1999\n" and status == 70 and "repeated" in err


def test_tail_calls_take_no_depth(tmp_path: Path) -> None:
    text = "loop(n, acc) = if n == 0: acc | loop(n - 1, acc + n)\nprn(loop(5000, 0))\n"
    assert same(tmp_path, text, max_depth=100)[1] == "12502500\n"


def test_closures_capture_by_reference(tmp_path: Path) -> None:
    text = ("mk() =\n    c = 0\n    get = \\() c\n    c = 5\n    get\n"
            "prn(mk()(), mk)\nx = 1\nuse_x() = x\nx = 2\nprn(use_x())\n")
    assert same(tmp_path, text)[1] == "5 <fn mk/0>\n2\n"


def test_ret_brk_and_cnt_land_where_they_belong(tmp_path: Path) -> None:
    text = ("f(xs) =\n    x <- xs:\n        if x > 2: ret x\n    -1\nprn(f([1, 5, 3]), f([1]))\n"
            "s = 0\ni <- 1..10:\n    if i % 2 == 0: cnt\n    if i > 7: brk\n    s += i\nprn(s)\n"
            "g() =\n    k <- 1..3:\n        prn(try(\\() err(\"in\")).err)\n        ret k\nprn(g())\n")
    assert same(tmp_path, text)[1] == "5 -1\n16\nin\n1\n"


def test_evl_needs_a_source_file() -> None:
    image, _ = load_program(str(FILES[0]), "self")
    with pytest.raises(UsageError, match="evaluates a source file"):
        execute(image, [], 100, engine="evl", origin=None)


@settings(max_examples=40, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
                                 HealthCheck.function_scoped_fixture])
@given(program())
def test_random_programs_same_on_evl(tmp_path: Path, text: str) -> None:
    """The generated programs of test_fast.py agree with ref."""
    same(tmp_path, text)
