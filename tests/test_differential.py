"""Seed compiler vs self-hosted compiler on generated programs.

Hypothesis writes random well-formed programs (expressions of every kind,
statements, functions, closures, loops, runtime errors caught by `try`).
Both compilers must produce byte-identical images, and the program must
run to the same output on the reference interpreter and the fast tier. A
program may end with a cycle of functions calling each other (calls, tail
calls, `try`, trl callbacks) until the depth limit; it prints the depth
reached, which every engine must count alike. Malformed programs
(a generated program with a character deleted or inserted) must fail in
both with the same kind, line, column and message, or compile identically.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import CompileError
from stage0.image import ilbc
from stage0.seedc.driver import compile_file
from stage0.toolchain.engines import execute
from stage0.toolchain.selfhost import default_toolchain

# `make fuzz` raises the count (ILUSM_FUZZ_EXAMPLES) for a long soak.
EXAMPLES = int(os.environ.get("ILUSM_FUZZ_EXAMPLES", "80"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PRELUDE = ("a = 3\nb = 2.5\nc = \"s\"\nxs = [1, 2, 3]\no = {k: 1, \"X\": [2]}\n"
           "f(x) = x * 2\ng(x, y) =\n    t = x\n    t + y\nmk(n) = \\(v) v + n\n")

NAMES = st.sampled_from(["a", "b", "c", "xs", "o", "nil", "tru", "fls"])
LITS = st.one_of(st.integers(-5, 10**20).map(str), st.sampled_from(["0.5", "1e3", "0xFF", "0b11", "1_000"]),
                 st.text("abc xyz\\n", max_size=5).map(lambda s: '"' + s.replace("\\", "") + '"'))


def exprs() -> st.SearchStrategy[str]:
    """Random expressions over the prelude's names."""
    leaf = st.one_of(NAMES, LITS)

    def grow(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        binop = st.sampled_from(["+", "-", "*", "/", "%", "==", "!=", "<", ">=", "and", "or", ".."])
        return st.one_of(
            st.tuples(inner, binop, inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            inner.map(lambda e: f"(-{e})"), inner.map(lambda e: f"(not {e})"),
            st.lists(inner, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
            st.tuples(inner, inner).map(lambda t: f"{{k: {t[0]}, \"q\": {t[1]}}}"),
            inner.map(lambda e: f"f({e})"), st.tuples(inner, inner).map(lambda t: f"g({t[0]}, {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"mk({t[0]})({t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"(if {t[0]}: {t[1]} | {t[2]})"),
            st.tuples(inner, inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            inner.map(lambda e: "o?.k"), inner.map(lambda e: f"$\"<{{{e}}}>\""),
            inner.map(lambda e: f"str({e})"), inner.map(lambda e: f"len({e})"),
        )

    return st.recursive(leaf, grow, max_leaves=8)


def statements() -> st.SearchStrategy[str]:
    """Random statements; every value is printed through try so errors are output too."""
    e = exprs()
    show = e.map(lambda x: f"r = try(\\() {x})\nprn r.val, r.err")
    loop = st.tuples(e, st.integers(0, 4)).map(
        lambda t: f"n = 0\nwhl n < {t[1]}:\n    n += 1\n    if n == 2: cnt\n    prn n, try(\\() {t[0]}).err")
    each = e.map(lambda x: f"i, v <- [1, \"two\", nil]:\n    prn i, try(\\() v + {x}).val")
    mat = e.map(lambda x: f"prn mat try(\\() {x}).err:\n    nil: \"ok\"\n    _ => \"err\"")
    fn = e.map(lambda x: f"h(p) =\n    q = p\n    ret try(\\() {x}).err\nprn h(1)")
    held = st.tuples(e, st.integers(0, 4), st.integers(1, 3), st.sampled_from(["brk", "cnt"])).map(
        lambda t: f"n = 0\nwhl n < {t[1]}:\n    n += 1\n    prn n, str(try(\\() {t[0]}).val) + if n == {t[2]}:\n"
                  f"        {t[3]}\n    | \"\"")
    return st.one_of(show, loop, each, mat, fn, held)


# How one function of a depth cycle calls the next.
HOPS = {
    "call": "x = {nxt}()\n    x",
    "tail": "{nxt}()",
    "try": "try({nxt})",
    "try in a call": "r = try({nxt})\n    r",
    "trl callback": "trl.map([1], \\(v) {nxt}())",
}
# The programs run with this depth limit: deep enough that an engine holding
# more Python frames per ilusm frame than cli.execute's recursion limit allows
# would overflow early (4 per frame at 20,000).
DEPTH = 6000


def depth_cycle(kinds: list[str]) -> str:
    """Functions dp0..dpN, each counting itself and calling the next (dpN calls dp0) by its kind of hop;
    prints whether the overflow escaped the outermost `try` and how many calls were made."""
    if set(kinds) == {"tail"}:
        kinds = kinds + ["call"]  # a cycle of tail calls alone runs for ever in one frame
    names = [f"dp{i}" for i in range(len(kinds))]
    text = "use trl\ndc = {n: 0}\n"
    for i, kind in enumerate(kinds):
        hop = HOPS[kind].format(nxt=names[(i + 1) % len(names)])
        text += f"{names[i]}() =\n    dc.n += 1\n    {hop}\n"
    return text + "prn try(dp0).err, dc.n\n"


DEPTH_CYCLES = st.one_of(st.just(""), st.lists(st.sampled_from(sorted(HOPS)), min_size=1, max_size=4).map(depth_cycle))
PROGRAMS = st.tuples(st.lists(statements(), min_size=1, max_size=4), DEPTH_CYCLES).map(
    lambda t: PRELUDE + "\n".join(t[0]) + "\n" + t[1])


def seed_compile(path: Path) -> bytes | CompileError:
    """Seed compiler: bytes or the compile error."""
    try:
        return ilbc.write(compile_file(path))
    except CompileError as e:
        return e


def self_compile(path: Path) -> bytes | CompileError:
    """Self-hosted compiler (the committed toolchain): bytes or the compile error."""
    try:
        return default_toolchain().compile_file(path)
    except CompileError as e:
        return e


def same(a: bytes | CompileError, b: bytes | CompileError) -> None:
    """Identical bytes, or the same error at the same place."""
    if isinstance(a, CompileError) or isinstance(b, CompileError):
        assert isinstance(a, CompileError) and isinstance(b, CompileError), (a, b)
        assert (a.kind, a.line, a.col, a.message) == (b.kind, b.line, b.col, b.message)
    else:
        assert a == b


def output(data: bytes, engine: str = "ref") -> str:
    """What the program prints on an engine, as `ilusm run` would run it (uncaught errors included)."""
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()  # execute() sets it; hypothesis wants it back
    try:
        status = in_big_stack(lambda: guarded(lambda: execute(ilbc.read(data), [], DEPTH, out=out, engine=engine),
                                              err))
    finally:
        sys.setrecursionlimit(limit)
    return f"{out.getvalue()}{err.getvalue()}exit {status}"


@SETTINGS
@given(PROGRAMS)
def test_generated_programs_compile_identically(tmp_path_factory, src: str) -> None:
    path = tmp_path_factory.mktemp("d") / "p.ilu"
    path.write_text(src, encoding="utf-8")
    a, b = seed_compile(path), self_compile(path)
    same(a, b)
    assert isinstance(a, bytes), a
    assert output(a) == output(b) == output(a, "fast") == output(a, "vm")  # type: ignore[arg-type]


@SETTINGS
@given(PROGRAMS, st.data())
def test_malformed_programs_fail_alike(tmp_path_factory, src: str, data: st.DataObject) -> None:
    pos = data.draw(st.integers(0, len(src) - 1))
    if data.draw(st.booleans()):
        src = src[:pos] + src[pos + 1:]
    else:
        src = src[:pos] + data.draw(st.sampled_from(list("()[]{}:|,\"$\\=\n +-!.?@#"))) + src[pos:]
    path = tmp_path_factory.mktemp("m") / "p.ilu"
    path.write_text(src, encoding="utf-8")
    same(seed_compile(path), self_compile(path))
