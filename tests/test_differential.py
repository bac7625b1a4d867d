"""Seed compiler vs self-hosted compiler on generated programs.

Hypothesis writes random well-formed programs (expressions of every kind,
statements, functions, closures, loops, runtime errors caught by `try`).
Both compilers must produce byte-identical images, and the program must
run to the same output on the reference interpreter. Malformed programs
(a generated program with a character deleted or inserted) must fail in
both with the same kind, line, column and message, or compile identically.
"""
from __future__ import annotations

import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage0 import ilbc
from stage0.errors import CompileError
from stage0.seedc.driver import compile_file
from stage0.selfhost import default_toolchain
from stage0.vm import VM

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True, database=None,
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


PROGRAMS = st.lists(statements(), min_size=1, max_size=4).map(lambda ss: PRELUDE + "\n".join(ss) + "\n")


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


def output(data: bytes) -> str:
    """What the program prints on the reference interpreter (uncaught errors included)."""
    out = io.StringIO()
    try:
        VM(ilbc.read(data), out=out).run_main()
    except Exception as e:  # an uncaught ilusm error ends the program; record it
        out.write(f"!{type(e).__name__}: {e}")
    return out.getvalue()


@SETTINGS
@given(PROGRAMS)
def test_generated_programs_compile_identically(tmp_path_factory, src: str) -> None:
    path = tmp_path_factory.mktemp("d") / "p.ilu"
    path.write_text(src, encoding="utf-8")
    a, b = seed_compile(path), self_compile(path)
    same(a, b)
    assert isinstance(a, bytes), a
    assert output(a) == output(b)  # type: ignore[arg-type]


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
