"""Exact shapes of the seed compiler's output for small snippets.

Each case compiles a snippet and compares the instructions of one function
(`NAME OPERANDS`, jumps as relative instruction counts) with the expected
list, so a change in code generation is a visible, reviewed change.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from stage0 import isa
from stage0.errors import CompileError
from stage0.image.ilbc import decode
from stage0.image.model import Image
from stage0.seedc.driver import compile_file
from stage0.seedc.emit import FnBuilder


def compile_snippet(tmp_path: Path, src: str) -> Image:
    """Compile a snippet as a one-file program."""
    path = tmp_path / "s.ilu"
    path.write_text(src, encoding="utf-8")
    return compile_file(path)


def shape(image: Image, name: str = "<module>") -> list[str]:
    """The named function's instructions as `OP operands` strings."""
    func = next(f for f in image.funcs if image.names[f.name] == name)
    raw = decode(func.code)
    index = {off: i for i, (off, _, _) in enumerate(raw)}
    out = []
    for i, (off, code, args) in enumerate(raw):
        op = isa.BY_CODE[code]
        shown = [repr(image.consts[a]) if role == "const" else image.names[a] if role == "name" else str(a)
                 for a, role in zip(args, op.roles)]
        if op.is_jump:
            shown[-1] = f"{index[off + op.size + args[-1]] - i:+d}"
        out.append(" ".join([op.name] + shown))
    return out


CASES = [
    ("x = 1 + 2", "<module>",
     ["PUSH_CONST 1", "PUSH_CONST 2", "ADD", "STORE_GLOBAL x", "PUSH_NIL", "RET"]),
    ("f(a, b) = a * b", "f",
     ["LOAD_LOCAL2 0 1", "MUL", "RET"]),
    ("f(n) = if n < 2: n | f(n - 1)", "f",
     ["LOAD_LOCAL_CONST 0 2", "LT_JUMP_UNLESS +3", "LOAD_LOCAL 0", "JUMP +5",
      "LOAD_GLOBAL f", "LOAD_LOCAL_CONST 0 1", "SUB", "CALL_TAIL 1", "RET"]),
    ("f(x) = x and 2", "f",
     ["LOAD_LOCAL 0", "DUP", "JUMP_UNLESS +3", "POP", "PUSH_CONST 2", "RET"]),
    ("i <- 1..3: prn i", "<module>",
     ["PUSH_CONST 1", "PUSH_CONST 3", "ITER_RANGE 0", "FOR_NEXT 0 +7", "STORE_GLOBAL i",
      "LOAD_GLOBAL prn", "LOAD_GLOBAL i", "CALL 1", "POP", "JUMP -6", "PUSH_NIL", "RET"]),
    ("f(xs) =\n    s = 0\n    k, v <- xs: s += v\n    s", "f",
     ["PUSH_CONST 0", "STORE_LOCAL 1", "LOAD_LOCAL 0", "ITER2 4", "FOR_NEXT2 4 +7", "STORE_LOCAL 3",
      "STORE_LOCAL 2", "LOAD_LOCAL2 1 3", "ADD", "STORE_LOCAL 1", "JUMP -6",
      "LOAD_LOCAL 1", "RET"]),
    ("mk() =\n    n = 1\n    \\() n", "mk",
     ["MAKE_CELL 0", "PUSH_CONST 1", "STORE_CELL 0", "MAKE_CLOSURE 2", "RET"]),
    ("mk() =\n    n = 1\n    \\() n", "anon", ["LOAD_UPVAL 0", "RET"]),
    ("o = nil\nprn o?.a.b", "<module>",
     ["PUSH_NIL", "STORE_GLOBAL o", "LOAD_GLOBAL prn", "LOAD_GLOBAL o", "JUMP_IF_NIL +3", "GET_FIELD a",
      "GET_FIELD b", "CALL 1", "POP", "PUSH_NIL", "RET"]),
    # parentheses end the chain: the short-circuit lands before `.b`, which then reads a field of nil.
    ("o = nil\nprn (o?.a).b", "<module>",
     ["PUSH_NIL", "STORE_GLOBAL o", "LOAD_GLOBAL prn", "LOAD_GLOBAL o", "JUMP_IF_NIL +2", "GET_FIELD a",
      "GET_FIELD b", "CALL 1", "POP", "PUSH_NIL", "RET"]),
    ("xs = [1]\nxs[0] += 2", "<module>",
     ["PUSH_CONST 1", "MAKE_LIST 1", "STORE_GLOBAL xs", "LOAD_GLOBAL xs", "PUSH_CONST 0", "DUP2",
      "GET_IDX", "PUSH_CONST 2", "ADD", "SET_IDX", "POP", "PUSH_NIL", "RET"]),
    ('prn $"a{1}"', "<module>",
     ["LOAD_GLOBAL prn", "PUSH_CONST 'a'", "PUSH_CONST 1", "CONCAT 2", "CALL 1", "POP", "PUSH_NIL", "RET"]),
    ('x = __txt_up("a")', "<module>",
     ["PUSH_CONST 'a'", "SYSCALL __txt_up 1", "STORE_GLOBAL x", "PUSH_NIL", "RET"]),
    ("f(x) = mat x:\n    1, 2: 3\n    _: 4", "f",
     ["LOAD_LOCAL 0", "STORE_LOCAL 1", "LOAD_LOCAL_CONST 1 1", "EQ", "JUMP_IF +5",
      "LOAD_LOCAL_CONST 1 2", "EQ", "JUMP_IF +2", "JUMP +3", "PUSH_CONST 3", "JUMP +4", "PUSH_CONST 4", "JUMP +2",
      "PUSH_NIL", "RET"]),
    # brk inside an if block used as the right operand: the held left operand is popped first.
    ("f(a) =\n    whl tru:\n        a = a + if a:\n            brk\n        | 1\n    a", "f",
     ["PUSH_TRU", "JUMP_UNLESS +11", "LOAD_LOCAL2 0 0", "JUMP_UNLESS +5", "POP", "JUMP +7",
      "PUSH_NIL", "JUMP +2", "PUSH_CONST 1", "ADD", "STORE_LOCAL 0", "JUMP -11", "LOAD_LOCAL 0", "RET"]),
    # superinstructions: a field of a local, compare-and-branch on each comparison.
    ("f(o, n) =\n    whl o.k != n: n += 1\n    n >= 2", "f",
     ["LOAD_LOCAL_FIELD 0 k", "LOAD_LOCAL 1", "NEQ_JUMP_UNLESS +5", "LOAD_LOCAL_CONST 1 1", "ADD",
      "STORE_LOCAL 1", "JUMP -6", "LOAD_LOCAL_CONST 1 2", "GE", "RET"]),
    # cnt under a shorthand call: the callee and the first argument are popped.
    ("i <- 1..2:\n    prn i, if i:\n        cnt\n    | 0", "<module>",
     ["PUSH_CONST 1", "PUSH_CONST 2", "ITER_RANGE 0", "FOR_NEXT 0 +15", "STORE_GLOBAL i",
      "LOAD_GLOBAL prn", "LOAD_GLOBAL i", "LOAD_GLOBAL i", "JUMP_UNLESS +6", "POP", "POP", "JUMP -8",
      "PUSH_NIL", "JUMP +2", "PUSH_CONST 0", "CALL 2", "POP", "JUMP -14", "PUSH_NIL", "RET"]),
]


@pytest.mark.parametrize("src,name,want", CASES, ids=[c[0][:30] for c in CASES])
def test_shape(tmp_path: Path, src: str, name: str, want: list[str]) -> None:
    """The function compiles to exactly these instructions."""
    assert shape(compile_snippet(tmp_path, src), name) == want


def test_int_and_float_constants_stay_apart(tmp_path: Path) -> None:
    image = compile_snippet(tmp_path, "prn 1, 1.0, -0.0, 0.0")
    kinds = [(type(c).__name__, c) for c in image.consts]
    assert ("int", 1) in kinds and ("float", 1.0) in kinds


@pytest.mark.parametrize("src,line,col,message", [
    ("def K = 1\nK = 2", 2, 1, "cannot assign to constant 'K'"),
    ("def K = 1\nK += 2", 2, 1, "cannot assign to constant 'K'"),
    ("f() =\n    def C = 1\n    C = 3", 3, 5, "cannot assign to constant 'C'"),
    ("def K = 1\nprn K\ndef K = 2", 3, 1, "cannot assign to constant 'K'"),
    ("x = 1\ndef x = 2", 2, 1, "cannot assign to constant 'x'"),
    ("f(K) =\n    prn K\n    def K = 1", 3, 5, "cannot assign to constant 'K'"),
    ("x <- [1]:\n    def x = 2", 2, 5, "cannot assign to constant 'x'"),
    ("use nosuchmodule_xyz", 1, 1, "module 'nosuchmodule_xyz' not found"),
])
def test_compile_errors(tmp_path: Path, src: str, line: int, col: int, message: str) -> None:
    with pytest.raises(CompileError) as info:
        compile_snippet(tmp_path, src)
    e = info.value
    assert (e.line, e.col, e.message, e.kind) == (line, col, message, "error")


def test_import_cycle_is_a_compile_error(tmp_path: Path) -> None:
    (tmp_path / "a.ilu").write_text('use "b.ilu"\n')
    (tmp_path / "b.ilu").write_text('use "a.ilu"\n')
    with pytest.raises(CompileError) as info:
        compile_file(tmp_path / "a.ilu")
    assert info.value.message == "import cycle: a.ilu -> b.ilu -> a.ilu"


def _fused(build: Callable[[FnBuilder], None]) -> list[tuple[str, list[int]]]:
    """The instructions a hand-built function has after fusion."""
    b = FnBuilder()
    build(b)
    b.fuse()
    return b.ins


def test_no_fusion_across_a_jump_target_or_a_line_start() -> None:
    """A run is fused only when no jump lands inside it and no new source line starts inside it."""
    def plain(b: FnBuilder) -> None:
        b.at(1)
        b.emit("LOAD_LOCAL", 0)
        b.emit("LOAD_LOCAL", 1)
        b.emit("RET")

    def target(b: FnBuilder) -> None:
        plain(b)
        b.patch(b.jump("JUMP"), 1)  # lands on the second LOAD_LOCAL

    def line(b: FnBuilder) -> None:
        b.at(1)
        b.emit("LOAD_LOCAL", 0)
        b.at(2)
        b.emit("LOAD_LOCAL", 1)

    assert _fused(plain) == [("LOAD_LOCAL2", [0, 1]), ("RET", [])]
    assert [n for n, _ in _fused(target)] == ["LOAD_LOCAL", "LOAD_LOCAL", "RET", "JUMP"]
    assert [n for n, _ in _fused(line)] == ["LOAD_LOCAL", "LOAD_LOCAL"]


def test_fusion_renumbers_jumps_and_lines() -> None:
    """Jumps and line marks after a fused run point at the same instructions as before."""
    b = FnBuilder()
    b.at(1)
    b.emit("LOAD_LOCAL", 0)
    b.emit("PUSH_CONST", 0)
    j = b.jump("JUMP_UNLESS")
    b.emit("LOAD_LOCAL", 0)
    b.at(2)
    end = b.here()
    b.emit("PUSH_NIL")
    b.emit("RET")
    b.patch(j, end)
    b.fuse()
    assert [n for n, _ in b.ins] == ["LOAD_LOCAL_CONST", "JUMP_UNLESS", "LOAD_LOCAL", "PUSH_NIL", "RET"]
    assert b.to == {1: 3} and b.marks == [(0, 1), (3, 2)]
