"""Tests of the seed parser (stage0/seedc/parser.py): tree shapes, positions, errors.

Shapes are ast.dump() output with the positions removed and the whitespace
collapsed to single spaces, so each expectation is the exact tree on one line.
Statement snippets with several statements join their shapes with " ; ".
"""
from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stage0 import syntax as A
from stage0.errors import CompileError
from stage0.seedc.parser import parse, parse_expr_text

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance" / "core"


def shape(node: A.Node) -> str:
    """ast.dump() of `node` without positions, on one line."""
    return " ".join(re.sub(r" @\d+:\d+", "", A.dump(node)).split())


def expr_shape(src: str) -> str:
    """Shape of `src` parsed as one expression."""
    return shape(parse_expr_text(src, "t.ilu", 1, 1))


def stmts_shape(src: str) -> str:
    """Shapes of the statements of module `src`, joined by " ; "."""
    return " ; ".join(shape(s) for s in parse(src, "t.ilu").stmts)


# Operator precedence and associativity (contract §2 table).
PRECEDENCE = [
    ('1 + 2 * 3',
     '(Bin op="+" l: (Num v=1) r: (Bin op="*" l: (Num v=2) r: (Num v=3)))'),
    ('(1 + 2) * 3',
     '(Bin op="*" l: (Bin op="+" l: (Num v=1) r: (Num v=2)) r: (Num v=3))'),
    ('1 - 2 - 3',
     '(Bin op="-" l: (Bin op="-" l: (Num v=1) r: (Num v=2)) r: (Num v=3))'),
    ('8 / 4 / 2',
     '(Bin op="/" l: (Bin op="/" l: (Num v=8) r: (Num v=4)) r: (Num v=2))'),
    ('7 % 3 * 2',
     '(Bin op="*" l: (Bin op="%" l: (Num v=7) r: (Num v=3)) r: (Num v=2))'),
    ('-x * y',
     '(Bin op="*" l: (Unary op="-" x: (Name name="x")) r: (Name name="y"))'),
    ('-x.y',
     '(Unary op="-" x: (Field name="y" opt=fls x: (Name name="x")))'),
    ('-f(x)[0]',
     '(Unary op="-" x: (Index opt=fls x: (Call fn: (Name name="f") args: [ (Name name="x") ]) i: (Num v=0)))'),
    ('!a and b',
     '(Bin op="and" l: (Unary op="!" x: (Name name="a")) r: (Name name="b"))'),
    ('not a == b',
     '(Bin op="==" l: (Unary op="!" x: (Name name="a")) r: (Name name="b"))'),
    ('- -x',
     '(Unary op="-" x: (Unary op="-" x: (Name name="x")))'),
    ('!!x',
     '(Unary op="!" x: (Unary op="!" x: (Name name="x")))'),
    ('a or b and c',
     '(Bin op="or" l: (Name name="a") r: (Bin op="and" l: (Name name="b") r: (Name name="c")))'),
    ('a and b or c',
     '(Bin op="or" l: (Bin op="and" l: (Name name="a") r: (Name name="b")) r: (Name name="c"))'),
    ('a or b or c',
     '(Bin op="or" l: (Bin op="or" l: (Name name="a") r: (Name name="b")) r: (Name name="c"))'),
    ('a == b and c != d',
     '(Bin op="and" l: (Bin op="==" l: (Name name="a") r: (Name name="b")) r: (Bin op="!=" l: (Name name="c") r: '
     '(Name name="d")))'),
    ('1 + 2 < 3 * 4',
     '(Bin op="<" l: (Bin op="+" l: (Num v=1) r: (Num v=2)) r: (Bin op="*" l: (Num v=3) r: (Num v=4)))'),
    ('a <= b',
     '(Bin op="<=" l: (Name name="a") r: (Name name="b"))'),
    ('a >= b',
     '(Bin op=">=" l: (Name name="a") r: (Name name="b"))'),
    ('a > b',
     '(Bin op=">" l: (Name name="a") r: (Name name="b"))'),
    ('1..5',
     '(Bin op=".." l: (Num v=1) r: (Num v=5))'),
    ('a + 1..b - 1',
     '(Bin op=".." l: (Bin op="+" l: (Name name="a") r: (Num v=1)) r: (Bin op="-" l: (Name name="b") r: (Num v=1)))'),
    ('a..b == c',
     '(Bin op="==" l: (Bin op=".." l: (Name name="a") r: (Name name="b")) r: (Name name="c"))'),
    ('"a" + 1 * 2',
     '(Bin op="+" l: (Str v="a") r: (Bin op="*" l: (Num v=1) r: (Num v=2)))'),
]


@pytest.mark.parametrize("src, expected", PRECEDENCE)
def test_precedence(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# `x |> f(a)` is f(x, a), `x |> f` is f(x); a single `|` outside a then-part is the same.
PIPELINES = [
    ('x |> f',
     '(Call fn: (Name name="f") args: [ (Name name="x") ])'),
    ('x |> f(a)',
     '(Call fn: (Name name="f") args: [ (Name name="x") (Name name="a") ])'),
    ('x |> f(a) |> g',
     '(Call fn: (Name name="g") args: [ (Call fn: (Name name="f") args: [ (Name name="x") (Name name="a") ]) ])'),
    ('x | f',
     '(Call fn: (Name name="f") args: [ (Name name="x") ])'),
    ('x | f | g(1, 2)',
     '(Call fn: (Name name="g") args: [ (Call fn: (Name name="f") args: [ (Name name="x") ]) (Num v=1) (Num v=2) ])'),
    ('x |> o.m(1)',
     '(Call fn: (Field name="m" opt=fls x: (Name name="o")) args: [ (Name name="x") (Num v=1) ])'),
    ('a or b |> f',
     '(Call fn: (Name name="f") args: [ (Bin op="or" l: (Name name="a") r: (Name name="b")) ])'),
    ('x |> f or g',
     '(Call fn: (Bin op="or" l: (Name name="f") r: (Name name="g")) args: [ (Name name="x") ])'),
    ('x |> make()(1)',
     '(Call fn: (Call args=[] fn: (Name name="make")) args: [ (Name name="x") (Num v=1) ])'),
    ('x + 1 |> f',
     '(Call fn: (Name name="f") args: [ (Bin op="+" l: (Name name="x") r: (Num v=1)) ])'),
    ('(x |> f)(2)',
     '(Call fn: (Call fn: (Name name="f") args: [ (Name name="x") ]) args: [ (Num v=2) ])'),
]


@pytest.mark.parametrize("src, expected", PIPELINES)
def test_pipelines(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# Calls, indexing and fields; `(` and `[` only directly after the previous token.
POSTFIX = [
    ('f(x)(y)',
     '(Call fn: (Call fn: (Name name="f") args: [ (Name name="x") ]) args: [ (Name name="y") ])'),
    ('a.b.c',
     '(Field name="c" opt=fls x: (Field name="b" opt=fls x: (Name name="a")))'),
    ('a?.b',
     '(Field name="b" opt=tru x: (Name name="a"))'),
    ('a?[0]',
     '(Index opt=tru x: (Name name="a") i: (Num v=0))'),
    ('a?.b.c',
     '(Field name="c" opt=fls x: (Field name="b" opt=tru x: (Name name="a")))'),
    ('a?[0].c',
     '(Field name="c" opt=fls x: (Index opt=tru x: (Name name="a") i: (Num v=0)))'),
    ('xs[1][2]',
     '(Index opt=fls x: (Index opt=fls x: (Name name="xs") i: (Num v=1)) i: (Num v=2))'),
    ('o["k"]',
     '(Index opt=fls x: (Name name="o") i: (Str v="k"))'),
    ('o.f(1)',
     '(Call fn: (Field name="f" opt=fls x: (Name name="o")) args: [ (Num v=1) ])'),
    ('f()',
     '(Call args=[] fn: (Name name="f"))'),
    ('f(1, 2,)',
     '(Call fn: (Name name="f") args: [ (Num v=1) (Num v=2) ])'),
    ('f(\n  1,\n  2\n)',
     '(Call fn: (Name name="f") args: [ (Num v=1) (Num v=2) ])'),
    ('o .b',
     '(Field name="b" opt=fls x: (Name name="o"))'),
    ('a ?[0]',
     '(Index opt=tru x: (Name name="a") i: (Num v=0))'),
    ('f(a)[b].c?.d(e)',
     '(Call fn: (Field name="d" opt=tru x: (Field name="c" opt=fls x: (Index opt=fls x: (Call fn: (Name name="f") '
     'args: [ (Name name="a") ]) i: (Name name="b")))) args: [ (Name name="e") ])'),
]


@pytest.mark.parametrize("src, expected", POSTFIX)
def test_postfix(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# Literals, names, parentheses, lists and objects (trailing commas, continuation lines).
PRIMARIES = [
    ('[]',
     '(List items=[])'),
    ('[1, 2, 3,]',
     '(List items: [ (Num v=1) (Num v=2) (Num v=3) ])'),
    ('[[1], [2, [3]]]',
     '(List items: [ (List items: [ (Num v=1) ]) (List items: [ (Num v=2) (List items: [ (Num v=3) ]) ]) ])'),
    ('[\n  1,\n  2,\n]',
     '(List items: [ (Num v=1) (Num v=2) ])'),
    ('{}',
     '(Obj keys=[] vals=[])'),
    ('{name: "a", "X-Key": 1, n: 2,}',
     '(Obj keys=["name", "X-Key", "n"] vals: [ (Str v="a") (Num v=1) (Num v=2) ])'),
    ('{a: {b: [1]}}',
     '(Obj keys=["a"] vals: [ (Obj keys=["b"] vals: [ (List items: [ (Num v=1) ]) ]) ])'),
    ('{\n  a: 1,\n  b: 2,\n}',
     '(Obj keys=["a", "b"] vals: [ (Num v=1) (Num v=2) ])'),
    ('tru',
     '(Bool v=tru)'),
    ('fls',
     '(Bool v=fls)'),
    ('nil',
     '(Nil)'),
    ('"s"',
     '(Str v="s")'),
    ("'q'",
     '(Str v="q")'),
    ('42',
     '(Num v=42)'),
    ('2.5',
     '(Num v=2.5)'),
    ('0xFF',
     '(Num v=255)'),
    ('x',
     '(Name name="x")'),
    ('(x)',
     '(Name name="x")'),
    ('((1))',
     '(Num v=1)'),
]


@pytest.mark.parametrize("src, expected", PRIMARIES)
def test_primaries(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# Lambdas: the body extends as far right as possible.
LAMBDAS = [
    ('\\(a, b) a + b',
     '(Lambda params=["a", "b"] body: (Bin op="+" l: (Name name="a") r: (Name name="b")))'),
    ('fn(a, b) a + b',
     '(Lambda params=["a", "b"] body: (Bin op="+" l: (Name name="a") r: (Name name="b")))'),
    ('fn (x) x',
     '(Lambda params=["x"] body: (Name name="x"))'),
    ('\\() 1',
     '(Lambda params=[] body: (Num v=1))'),
    ('\\(x) \\(y) x + y',
     '(Lambda params=["x"] body: (Lambda params=["y"] body: (Bin op="+" l: (Name name="x") r: (Name name="y"))))'),
    ('\\(x,) x',
     '(Lambda params=["x"] body: (Name name="x"))'),
    ('\\(x) x |> f',
     '(Lambda params=["x"] body: (Call fn: (Name name="f") args: [ (Name name="x") ]))'),
    ('\\(x) x | f',
     '(Lambda params=["x"] body: (Call fn: (Name name="f") args: [ (Name name="x") ]))'),
    ('[\\(x) x, 2]',
     '(List items: [ (Lambda params=["x"] body: (Name name="x")) (Num v=2) ])'),
    ('(\\(x) x)(1)',
     '(Call fn: (Lambda params=["x"] body: (Name name="x")) args: [ (Num v=1) ])'),
    ('\\(x) f(x)(1)',
     '(Lambda params=["x"] body: (Call fn: (Call fn: (Name name="f") args: [ (Name name="x") ]) args: [ (Num v=1) ]))'),
    ('\\(x) if x: 1 | 2',
     '(Lambda params=["x"] body: (If conds: [ (Name name="x") ] bodies: [ (Num v=1) ] els: (Num v=2)))'),
    ('f(\\(x)\n  x + 1)',
     '(Call fn: (Name name="f") args: [ (Lambda params=["x"] body: (Bin op="+" l: (Name name="x") r: (Num v=1))) ])'),
    ('1 + \\(x) x',
     '(Bin op="+" l: (Num v=1) r: (Lambda params=["x"] body: (Name name="x")))'),
]


@pytest.mark.parametrize("src, expected", LAMBDAS)
def test_lambdas(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# If-expressions, and `|` ending a then-part versus `|` as a pipeline.
IF_EXPRESSIONS = [
    ('if c: a | b',
     '(If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: (Name name="b"))'),
    ('if c: a',
     '(If els=nil conds: [ (Name name="c") ] bodies: [ (Name name="a") ])'),
    ('if c: a | if d: b | e',
     '(If conds: [ (Name name="c") (Name name="d") ] bodies: [ (Name name="a") (Name name="b") ] els: (Name '
     'name="e"))'),
    ('if c: a | if d: b',
     '(If els=nil conds: [ (Name name="c") (Name name="d") ] bodies: [ (Name name="a") (Name name="b") ])'),
    ('if c: 1 + 2 | 3 * 4',
     '(If conds: [ (Name name="c") ] bodies: [ (Bin op="+" l: (Num v=1) r: (Num v=2)) ] els: (Bin op="*" l: (Num '
     'v=3) r: (Num v=4)))'),
    ('if c: a | b | f',
     '(If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: (Call fn: (Name name="f") args: [ (Name '
     'name="b") ]))'),
    ('if c: a |> f | b',
     '(If conds: [ (Name name="c") ] bodies: [ (Call fn: (Name name="f") args: [ (Name name="a") ]) ] els: (Name '
     'name="b"))'),
    ('if c: (a | f) | b',
     '(If conds: [ (Name name="c") ] bodies: [ (Call fn: (Name name="f") args: [ (Name name="a") ]) ] els: (Name '
     'name="b"))'),
    ('if c: f(a | g) | b',
     '(If conds: [ (Name name="c") ] bodies: [ (Call fn: (Name name="f") args: [ (Call fn: (Name name="g") args: [ '
     '(Name name="a") ]) ]) ] els: (Name name="b"))'),
    ('if c: [a | g] | b',
     '(If conds: [ (Name name="c") ] bodies: [ (List items: [ (Call fn: (Name name="g") args: [ (Name name="a") ]) '
     ']) ] els: (Name name="b"))'),
    ('if a: if b: x | y | z',
     '(If conds: [ (Name name="a") ] bodies: [ (If conds: [ (Name name="b") ] bodies: [ (Name name="x") ] els: (Name '
     'name="y")) ] els: (Name name="z"))'),
    ('if c: \\(x) x | y',
     '(If conds: [ (Name name="c") ] bodies: [ (Lambda params=["x"] body: (Name name="x")) ] els: (Name name="y"))'),
    ('if c: \\(x) (x | f) | y',
     '(If conds: [ (Name name="c") ] bodies: [ (Lambda params=["x"] body: (Call fn: (Name name="f") args: [ (Name '
     'name="x") ])) ] els: (Name name="y"))'),
    ('1 + (if c: 2 | 3)',
     '(Bin op="+" l: (Num v=1) r: (If conds: [ (Name name="c") ] bodies: [ (Num v=2) ] els: (Num v=3)))'),
    ('if xs | len: 1 | 2',
     '(If conds: [ (Call fn: (Name name="len") args: [ (Name name="xs") ]) ] bodies: [ (Num v=1) ] els: (Num v=2))'),
    ('if c: a | \\(x) x | f',
     '(If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: (Lambda params=["x"] body: (Call fn: (Name '
     'name="f") args: [ (Name name="x") ])))'),
    ('[if c:\n   1\n | 2]',
     '(List items: [ (If conds: [ (Name name="c") ] bodies: [ (Num v=1) ] els: (Num v=2)) ])'),
]


@pytest.mark.parametrize("src, expected", IF_EXPRESSIONS)
def test_if_expressions(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# Interpolated strings: Str pieces and expressions; empty pieces omitted.
INTERPOLATIONS = [
    ('$"total: {a + b}!"',
     '(Interp parts: [ (Str v="total: ") (Bin op="+" l: (Name name="a") r: (Name name="b")) (Str v="!") ])'),
    ('$"a {f("x")} {o["k"]} b"',
     '(Interp parts: [ (Str v="a ") (Call fn: (Name name="f") args: [ (Str v="x") ]) (Str v=" ") (Index opt=fls x: '
     '(Name name="o") i: (Str v="k")) (Str v=" b") ])'),
    ('$""',
     '(Interp parts=[])'),
    ('$"plain"',
     '(Interp parts: [ (Str v="plain") ])'),
    ('$"{x}"',
     '(Interp parts: [ (Name name="x") ])'),
    ('$"{a}{b}"',
     '(Interp parts: [ (Name name="a") (Name name="b") ])'),
    ('$"<{$"[{x}]"}>"',
     '(Interp parts: [ (Str v="<") (Interp parts: [ (Str v="[") (Name name="x") (Str v="]") ]) (Str v=">") ])'),
    ('$"{ x }"',
     '(Interp parts: [ (Name name="x") ])'),
    ('$\'{d["k"]}\'',
     '(Interp parts: [ (Index opt=fls x: (Name name="d") i: (Str v="k")) ])'),
    ('$"\\{not code\\} {1}"',
     '(Interp parts: [ (Str v="{not code} ") (Num v=1) ])'),
    ('$"{if c: "y" | "n"}"',
     '(Interp parts: [ (If conds: [ (Name name="c") ] bodies: [ (Str v="y") ] els: (Str v="n")) ])'),
    ('$"{ {a: 1}.a }"',
     '(Interp parts: [ (Field name="a" opt=fls x: (Obj keys=["a"] vals: [ (Num v=1) ])) ])'),
]


@pytest.mark.parametrize("src, expected", INTERPOLATIONS)
def test_interpolations(src: str, expected: str) -> None:
    assert expr_shape(src) == expected


# Statements: use, def, assignments, function definitions, loops, ret.
STATEMENTS = [
    ('use trl',
     '(Use name="trl" path=nil)'),
    ('use "lib/x.ilu"',
     '(Use name=nil path="lib/x.ilu")'),
    ('def N = 10',
     '(Def name="N" value: (Num v=10))'),
    ('x = 1',
     '(Assign op="=" target: (Name name="x") value: (Num v=1))'),
    ('x += 1',
     '(Assign op="+=" target: (Name name="x") value: (Num v=1))'),
    ('x -= 1',
     '(Assign op="-=" target: (Name name="x") value: (Num v=1))'),
    ('x *= 2',
     '(Assign op="*=" target: (Name name="x") value: (Num v=2))'),
    ('x /= 2',
     '(Assign op="/=" target: (Name name="x") value: (Num v=2))'),
    ('x %= 2',
     '(Assign op="%=" target: (Name name="x") value: (Num v=2))'),
    ('o.k = 1',
     '(Assign op="=" target: (Field name="k" opt=fls x: (Name name="o")) value: (Num v=1))'),
    ('xs[0] = 1',
     '(Assign op="=" target: (Index opt=fls x: (Name name="xs") i: (Num v=0)) value: (Num v=1))'),
    ('o["k"] -= 1',
     '(Assign op="-=" target: (Index opt=fls x: (Name name="o") i: (Str v="k")) value: (Num v=1))'),
    ('f().k += 1',
     '(Assign op="+=" target: (Field name="k" opt=fls x: (Call args=[] fn: (Name name="f"))) value: (Num v=1))'),
    ('a.b[0].c = 1',
     '(Assign op="=" target: (Field name="c" opt=fls x: (Index opt=fls x: (Field name="b" opt=fls x: (Name '
     'name="a")) i: (Num v=0))) value: (Num v=1))'),
    ('(x) = 1',
     '(Assign op="=" target: (Name name="x") value: (Num v=1))'),
    ('x = y == 1',
     '(Assign op="=" target: (Name name="x") value: (Bin op="==" l: (Name name="y") r: (Num v=1)))'),
    ('add(a, b) = a + b',
     '(FnDef name="add" params=["a", "b"] body: (Bin op="+" l: (Name name="a") r: (Name name="b")))'),
    ('f() = 1',
     '(FnDef name="f" params=[] body: (Num v=1))'),
    ('f(a,) = a',
     '(FnDef name="f" params=["a"] body: (Name name="a"))'),
    ('f(x) =\n    y = x\n    y',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (Assign op="=" target: (Name name="y") value: (Name '
     'name="x")) (Name name="y") ]))'),
    ('mk(n) = \\(x) x + n',
     '(FnDef name="mk" params=["n"] body: (Lambda params=["x"] body: (Bin op="+" l: (Name name="x") r: (Name '
     'name="n"))))'),
    ('f(x) = prn x',
     '(FnDef name="f" params=["x"] body: (Call fn: (Name name="prn") args: [ (Name name="x") ]))'),
    ('f(x) = if x: 1 | 2',
     '(FnDef name="f" params=["x"] body: (If conds: [ (Name name="x") ] bodies: [ (Num v=1) ] els: (Num v=2)))'),
    ('f(x) = x = 1',
     '(FnDef name="f" params=["x"] body: (Assign op="=" target: (Name name="x") value: (Num v=1)))'),
    ('x <- xs: prn x',
     '(For names=["x"] iter: (Name name="xs") body: (Call fn: (Name name="prn") args: [ (Name name="x") ]))'),
    ('i, x <- xs: prn i, x',
     '(For names=["i", "x"] iter: (Name name="xs") body: (Call fn: (Name name="prn") args: [ (Name name="i") (Name '
     'name="x") ]))'),
    ('x <- 1..3:\n    prn x',
     '(For names=["x"] iter: (Bin op=".." l: (Num v=1) r: (Num v=3)) body: (Block stmts: [ (Call fn: (Name '
     'name="prn") args: [ (Name name="x") ]) ]))'),
    ('k, v <- {a: 1}: s += k',
     '(For names=["k", "v"] iter: (Obj keys=["a"] vals: [ (Num v=1) ]) body: (Assign op="+=" target: (Name name="s") '
     'value: (Name name="k")))'),
    ('whl i < 3: i += 1',
     '(Whl cond: (Bin op="<" l: (Name name="i") r: (Num v=3)) body: (Assign op="+=" target: (Name name="i") value: '
     '(Num v=1)))'),
    ('whl tru:\n    brk',
     '(Whl cond: (Bool v=tru) body: (Block stmts: [ (Brk) ]))'),
    ('whl a: whl b: brk',
     '(Whl cond: (Name name="a") body: (Whl cond: (Name name="b") body: (Brk)))'),
    ('x <- xs:\n    if x == "b": cnt\n    prn x',
     '(For names=["x"] iter: (Name name="xs") body: (Block stmts: [ (If els=nil conds: [ (Bin op="==" l: (Name '
     'name="x") r: (Str v="b")) ] bodies: [ (Cnt) ]) (Call fn: (Name name="prn") args: [ (Name name="x") ]) ]))'),
    ('f() = ret',
     '(FnDef name="f" params=[] body: (Ret value=nil))'),
    ('f() = ret 1',
     '(FnDef name="f" params=[] body: (Ret value: (Num v=1)))'),
    ('f(x) =\n    if x > 0: ret "pos"\n    "non-pos"',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (If els=nil conds: [ (Bin op=">" l: (Name name="x") r: (Num '
     'v=0)) ] bodies: [ (Ret value: (Str v="pos")) ]) (Str v="non-pos") ]))'),
    ('f(x) =\n    if x: ret | 2',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (If conds: [ (Name name="x") ] bodies: [ (Ret value=nil) ] '
     'els: (Num v=2)) ]))'),
    ('f(x) =\n    ret (x)',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (Ret value: (Name name="x")) ]))'),
    ('f(x) = ret -x',
     '(FnDef name="f" params=["x"] body: (Ret value: (Unary op="-" x: (Name name="x"))))'),
    ('x',
     '(Name name="x")'),
    ('-x',
     '(Unary op="-" x: (Name name="x"))'),
    ('[1, 2]',
     '(List items: [ (Num v=1) (Num v=2) ])'),
    ('f(x) == 1',
     '(Bin op="==" l: (Call fn: (Name name="f") args: [ (Name name="x") ]) r: (Num v=1))'),
    ('a and b',
     '(Bin op="and" l: (Name name="a") r: (Name name="b"))'),
    ('counter() =\n    st = {n: 0}\n    inc() =\n        st.n += 1\n        st.n\n    inc\nc = counter()',
     '(FnDef name="counter" params=[] body: (Block stmts: [ (Assign op="=" target: (Name name="st") value: (Obj '
     'keys=["n"] vals: [ (Num v=0) ])) (FnDef name="inc" params=[] body: (Block stmts: [ (Assign op="+=" target: '
     '(Field name="n" opt=fls x: (Name name="st")) value: (Num v=1)) (Field name="n" opt=fls x: (Name name="st")) '
     '])) (Name name="inc") ])) ; (Assign op="=" target: (Name name="c") value: (Call args=[] fn: (Name '
     'name="counter")))'),
]


@pytest.mark.parametrize("src, expected", STATEMENTS)
def test_statements(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# Shorthand calls (`prn x`) and the statements that are not shorthand calls.
SHORTHAND = [
    ('prn x',
     '(Call fn: (Name name="prn") args: [ (Name name="x") ])'),
    ('prn "hi", name',
     '(Call fn: (Name name="prn") args: [ (Str v="hi") (Name name="name") ])'),
    ('prn x, y, z',
     '(Call fn: (Name name="prn") args: [ (Name name="x") (Name name="y") (Name name="z") ])'),
    ('prn (1 + 2) * 3',
     '(Call fn: (Name name="prn") args: [ (Bin op="*" l: (Bin op="+" l: (Num v=1) r: (Num v=2)) r: (Num v=3)) ])'),
    ('prn (a), b',
     '(Call fn: (Name name="prn") args: [ (Name name="a") (Name name="b") ])'),
    ('prn [1, 2]',
     '(Call fn: (Name name="prn") args: [ (List items: [ (Num v=1) (Num v=2) ]) ])'),
    ('prn [1, 2][0]',
     '(Call fn: (Name name="prn") args: [ (Index opt=fls x: (List items: [ (Num v=1) (Num v=2) ]) i: (Num v=0)) ])'),
    ('prn -1',
     '(Call fn: (Name name="prn") args: [ (Unary op="-" x: (Num v=1)) ])'),
    ('prn - 1',
     '(Bin op="-" l: (Name name="prn") r: (Num v=1))'),
    ('prn-1',
     '(Bin op="-" l: (Name name="prn") r: (Num v=1))'),
    ('prn -x, 2',
     '(Call fn: (Name name="prn") args: [ (Unary op="-" x: (Name name="x")) (Num v=2) ])'),
    ('prn tru',
     '(Call fn: (Name name="prn") args: [ (Bool v=tru) ])'),
    ('prn fls',
     '(Call fn: (Name name="prn") args: [ (Bool v=fls) ])'),
    ('prn nil',
     '(Call fn: (Name name="prn") args: [ (Nil) ])'),
    ('prn not x',
     '(Call fn: (Name name="prn") args: [ (Unary op="!" x: (Name name="x")) ])'),
    ('prn !x',
     '(Call fn: (Name name="prn") args: [ (Unary op="!" x: (Name name="x")) ])'),
    ('prn if ok: "y" | "n"',
     '(Call fn: (Name name="prn") args: [ (If conds: [ (Name name="ok") ] bodies: [ (Str v="y") ] els: (Str v="n")) '
     '])'),
    ('prn fn(x) x, 1',
     '(Call fn: (Name name="prn") args: [ (Lambda params=["x"] body: (Name name="x")) (Num v=1) ])'),
    ('prn \\(x) x',
     '(Call fn: (Name name="prn") args: [ (Lambda params=["x"] body: (Name name="x")) ])'),
    ('prn mat n:\n    0: 1',
     '(Call fn: (Name name="prn") args: [ (Mat x: (Name name="n") arms: [ (MatArm pats: [ (Num v=0) ] body: (Num '
     'v=1)) ]) ])'),
    ('prn $"a{b}"',
     '(Call fn: (Name name="prn") args: [ (Interp parts: [ (Str v="a") (Name name="b") ]) ])'),
    ('prn {a: 1}',
     '(Call fn: (Name name="prn") args: [ (Obj keys=["a"] vals: [ (Num v=1) ]) ])'),
    ('prn 42',
     '(Call fn: (Name name="prn") args: [ (Num v=42) ])'),
    ("prn 'x'",
     '(Call fn: (Name name="prn") args: [ (Str v="x") ])'),
    ('prn x |> f',
     '(Call fn: (Name name="prn") args: [ (Call fn: (Name name="f") args: [ (Name name="x") ]) ])'),
    ('prn x | f',
     '(Call fn: (Name name="prn") args: [ (Call fn: (Name name="f") args: [ (Name name="x") ]) ])'),
    ('prn 1 + 2 * 3',
     '(Call fn: (Name name="prn") args: [ (Bin op="+" l: (Num v=1) r: (Bin op="*" l: (Num v=2) r: (Num v=3))) ])'),
    ('err "boom"',
     '(Call fn: (Name name="err") args: [ (Str v="boom") ])'),
    ('f(x)',
     '(Call fn: (Name name="f") args: [ (Name name="x") ])'),
    ('f (x)',
     '(Call fn: (Name name="f") args: [ (Name name="x") ])'),
    ('o.f(1)',
     '(Call fn: (Field name="f" opt=fls x: (Name name="o")) args: [ (Num v=1) ])'),
    ('x - 1',
     '(Bin op="-" l: (Name name="x") r: (Num v=1))'),
    ('x-1',
     '(Bin op="-" l: (Name name="x") r: (Num v=1))'),
    ('x -1',
     '(Call fn: (Name name="x") args: [ (Unary op="-" x: (Num v=1)) ])'),
    ('x == 1',
     '(Bin op="==" l: (Name name="x") r: (Num v=1))'),
    ('xs[0]',
     '(Index opt=fls x: (Name name="xs") i: (Num v=0))'),
    ('f(x)(y)',
     '(Call fn: (Call fn: (Name name="f") args: [ (Name name="x") ]) args: [ (Name name="y") ])'),
    ('x and y',
     '(Bin op="and" l: (Name name="x") r: (Name name="y"))'),
]


@pytest.mark.parametrize("src, expected", SHORTHAND)
def test_shorthand(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# If statements: chains on one line, on following lines, after blocks.
IF_STATEMENTS = [
    ('if c: a | b',
     '(If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: (Name name="b"))'),
    ('if x < 0: prn "neg"\n| if x == 0: prn "zero"\n| prn "pos"',
     '(If conds: [ (Bin op="<" l: (Name name="x") r: (Num v=0)) (Bin op="==" l: (Name name="x") r: (Num v=0)) ] '
     'bodies: [ (Call fn: (Name name="prn") args: [ (Str v="neg") ]) (Call fn: (Name name="prn") args: [ (Str '
     'v="zero") ]) ] els: (Call fn: (Name name="prn") args: [ (Str v="pos") ]))'),
    ('if c:\n    a\n| b',
     '(If conds: [ (Name name="c") ] bodies: [ (Block stmts: [ (Name name="a") ]) ] els: (Name name="b"))'),
    ('if c:\n    a\n| if d:\n    b\n|\n    e',
     '(If conds: [ (Name name="c") (Name name="d") ] bodies: [ (Block stmts: [ (Name name="a") ]) (Block stmts: [ '
     '(Name name="b") ]) ] els: (Block stmts: [ (Name name="e") ]))'),
    ('if c: a\n| b',
     '(If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: (Name name="b"))'),
    ('if c: a',
     '(If els=nil conds: [ (Name name="c") ] bodies: [ (Name name="a") ])'),
    ('if c: x = 1 | x = 2',
     '(If conds: [ (Name name="c") ] bodies: [ (Assign op="=" target: (Name name="x") value: (Num v=1)) ] els: '
     '(Assign op="=" target: (Name name="x") value: (Num v=2)))'),
    ('if c: prn a | prn b',
     '(If conds: [ (Name name="c") ] bodies: [ (Call fn: (Name name="prn") args: [ (Name name="a") ]) ] els: (Call '
     'fn: (Name name="prn") args: [ (Name name="b") ]))'),
    ('if c: prn a, b | prn xs | f',
     '(If conds: [ (Name name="c") ] bodies: [ (Call fn: (Name name="prn") args: [ (Name name="a") (Name name="b") '
     ']) ] els: (Call fn: (Name name="prn") args: [ (Call fn: (Name name="f") args: [ (Name name="xs") ]) ]))'),
    ('if a: if b: x\n| y',
     '(If els=nil conds: [ (Name name="a") ] bodies: [ (If conds: [ (Name name="b") ] bodies: [ (Name name="x") ] '
     'els: (Name name="y")) ])'),
    ('x = if c: 1\n| 2',
     '(Assign op="=" target: (Name name="x") value: (If conds: [ (Name name="c") ] bodies: [ (Num v=1) ] els: (Num '
     'v=2)))'),
    ('x = if c: a | b',
     '(Assign op="=" target: (Name name="x") value: (If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: '
     '(Name name="b")))'),
    ('x = if c: a',
     '(Assign op="=" target: (Name name="x") value: (If els=nil conds: [ (Name name="c") ] bodies: [ (Name name="a") '
     ']))'),
    ('x = xs | f',
     '(Assign op="=" target: (Name name="x") value: (Call fn: (Name name="f") args: [ (Name name="xs") ]))'),
    ('x = if c: a | b | f',
     '(Assign op="=" target: (Name name="x") value: (If conds: [ (Name name="c") ] bodies: [ (Name name="a") ] els: '
     '(Call fn: (Name name="f") args: [ (Name name="b") ])))'),
    ('x = \\(a) a | f',
     '(Assign op="=" target: (Name name="x") value: (Lambda params=["a"] body: (Call fn: (Name name="f") args: [ '
     '(Name name="a") ])))'),
    ('x = if c:\n    1\n| 2',
     '(Assign op="=" target: (Name name="x") value: (If conds: [ (Name name="c") ] bodies: [ (Block stmts: [ (Num '
     'v=1) ]) ] els: (Num v=2)))'),
    ('sign(x) =\n    if x < 0: "neg"\n    | if x == 0: "zero"\n    | "pos"\nprn sign(1)',
     '(FnDef name="sign" params=["x"] body: (Block stmts: [ (If conds: [ (Bin op="<" l: (Name name="x") r: (Num '
     'v=0)) (Bin op="==" l: (Name name="x") r: (Num v=0)) ] bodies: [ (Str v="neg") (Str v="zero") ] els: (Str '
     'v="pos")) ])) ; (Call fn: (Name name="prn") args: [ (Call fn: (Name name="sign") args: [ (Num v=1) ]) ])'),
    ('f(x) =\n    if x:\n        1\n    | 2',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (If conds: [ (Name name="x") ] bodies: [ (Block stmts: [ '
     '(Num v=1) ]) ] els: (Num v=2)) ]))'),
    ('f(x) = if x: 1\n| 2',
     '(FnDef name="f" params=["x"] body: (If conds: [ (Name name="x") ] bodies: [ (Num v=1) ] els: (Num v=2)))'),
    ('fact(n) = if n <= 1: 1 | n * fact(n - 1)',
     '(FnDef name="fact" params=["n"] body: (If conds: [ (Bin op="<=" l: (Name name="n") r: (Num v=1)) ] bodies: [ '
     '(Num v=1) ] els: (Bin op="*" l: (Name name="n") r: (Call fn: (Name name="fact") args: [ (Bin op="-" l: (Name '
     'name="n") r: (Num v=1)) ]))))'),
    ('f(x) =\n    y = 1\n    if x: y = 2\n    | if y: y = 3\n    y',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (Assign op="=" target: (Name name="y") value: (Num v=1)) '
     '(If els=nil conds: [ (Name name="x") (Name name="y") ] bodies: [ (Assign op="=" target: (Name name="y") value: '
     '(Num v=2)) (Assign op="=" target: (Name name="y") value: (Num v=3)) ]) (Name name="y") ]))'),
    ('x <- xs:\n    if x: cnt | brk',
     '(For names=["x"] iter: (Name name="xs") body: (Block stmts: [ (If conds: [ (Name name="x") ] bodies: [ (Cnt) ] '
     'els: (Brk)) ]))'),
]


@pytest.mark.parametrize("src, expected", IF_STATEMENTS)
def test_if_statements(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# mat as statement and expression, arms with `:` and `=>`.
MATS = [
    ('kind(n) = mat n:\n    0: "zero"\n    1, 2: "small"\n    _: "many"',
     '(FnDef name="kind" params=["n"] body: (Mat x: (Name name="n") arms: [ (MatArm pats: [ (Num v=0) ] body: (Str '
     'v="zero")) (MatArm pats: [ (Num v=1) (Num v=2) ] body: (Str v="small")) (MatArm pats=nil body: (Str v="many")) '
     ']))'),
    ('color(c) = mat c:\n    "r" => "red"\n    "g" => "green"',
     '(FnDef name="color" params=["c"] body: (Mat x: (Name name="c") arms: [ (MatArm pats: [ (Str v="r") ] body: '
     '(Str v="red")) (MatArm pats: [ (Str v="g") ] body: (Str v="green")) ]))'),
    ('mat x:\n    -1, 0: prn "small"\n    tru, nil => prn "odd"\n    "s":\n        prn "s"\n    _ => prn "other"',
     '(Mat x: (Name name="x") arms: [ (MatArm pats: [ (Num v=-1) (Num v=0) ] body: (Call fn: (Name name="prn") args: '
     '[ (Str v="small") ])) (MatArm pats: [ (Bool v=tru) (Nil) ] body: (Call fn: (Name name="prn") args: [ (Str '
     'v="odd") ])) (MatArm pats: [ (Str v="s") ] body: (Block stmts: [ (Call fn: (Name name="prn") args: [ (Str '
     'v="s") ]) ])) (MatArm pats=nil body: (Call fn: (Name name="prn") args: [ (Str v="other") ])) ])'),
    ('x = mat n:\n    0: 1\n    _: 2\ny = 3',
     '(Assign op="=" target: (Name name="x") value: (Mat x: (Name name="n") arms: [ (MatArm pats: [ (Num v=0) ] '
     'body: (Num v=1)) (MatArm pats=nil body: (Num v=2)) ])) ; (Assign op="=" target: (Name name="y") value: (Num '
     'v=3))'),
    ('mat x:\n    0: \\(y)\n        y\n    _: 2',
     '(Mat x: (Name name="x") arms: [ (MatArm pats: [ (Num v=0) ] body: (Lambda params=["y"] body: (Block stmts: [ '
     '(Name name="y") ]))) (MatArm pats=nil body: (Num v=2)) ])'),
    ('mat x:\n    fls: if y: 1 | 2\n    2.5 => mat y:\n        _: 3',
     '(Mat x: (Name name="x") arms: [ (MatArm pats: [ (Bool v=fls) ] body: (If conds: [ (Name name="y") ] bodies: [ '
     '(Num v=1) ] els: (Num v=2))) (MatArm pats: [ (Num v=2.5) ] body: (Mat x: (Name name="y") arms: [ (MatArm '
     'pats=nil body: (Num v=3)) ])) ])'),
    ('x <- xs:\n    mat x:\n        0: brk\n        _: cnt',
     '(For names=["x"] iter: (Name name="xs") body: (Block stmts: [ (Mat x: (Name name="x") arms: [ (MatArm pats: [ '
     '(Num v=0) ] body: (Brk)) (MatArm pats=nil body: (Cnt)) ]) ]))'),
]


@pytest.mark.parametrize("src, expected", MATS)
def test_mats(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# Lambdas with block bodies, and constructs that end with a block.
BLOCK_LAMBDAS = [
    ('g = \\(x)\n    y = x + 1\n    y\nprn g(1)',
     '(Assign op="=" target: (Name name="g") value: (Lambda params=["x"] body: (Block stmts: [ (Assign op="=" '
     'target: (Name name="y") value: (Bin op="+" l: (Name name="x") r: (Num v=1))) (Name name="y") ]))) ; (Call fn: '
     '(Name name="prn") args: [ (Call fn: (Name name="g") args: [ (Num v=1) ]) ])'),
    ('adders = []\ni <- 1..3: push(adders, \\(y) y + i)',
     '(Assign op="=" target: (Name name="adders") value: (List items=[])) ; (For names=["i"] iter: (Bin op=".." l: '
     '(Num v=1) r: (Num v=3)) body: (Call fn: (Name name="push") args: [ (Name name="adders") (Lambda params=["y"] '
     'body: (Bin op="+" l: (Name name="y") r: (Name name="i"))) ]))'),
    ('each xs, \\(x)\n    prn x',
     '(Call fn: (Name name="each") args: [ (Name name="xs") (Lambda params=["x"] body: (Block stmts: [ (Call fn: '
     '(Name name="prn") args: [ (Name name="x") ]) ])) ])'),
    ('trl.map(xs, \\(x)\n    x + 1)',
     '(Call fn: (Field name="map" opt=fls x: (Name name="trl")) args: [ (Name name="xs") (Lambda params=["x"] body: '
     '(Bin op="+" l: (Name name="x") r: (Num v=1))) ])'),
    ('r = try(\\() err("boom"))',
     '(Assign op="=" target: (Name name="r") value: (Call fn: (Name name="try") args: [ (Lambda params=[] body: '
     '(Call fn: (Name name="err") args: [ (Str v="boom") ])) ]))'),
    ('h = fn()\n    x <- xs:\n        brk\n    ret 1',
     '(Assign op="=" target: (Name name="h") value: (Lambda params=[] body: (Block stmts: [ (For names=["x"] iter: '
     '(Name name="xs") body: (Block stmts: [ (Brk) ])) (Ret value: (Num v=1)) ])))'),
    ('f(x) = \\(y)\n    x + y',
     '(FnDef name="f" params=["x"] body: (Lambda params=["y"] body: (Block stmts: [ (Bin op="+" l: (Name name="x") '
     'r: (Name name="y")) ])))'),
    ('x = mat n:\n    0: 1\n-x',
     '(Assign op="=" target: (Name name="x") value: (Mat x: (Name name="n") arms: [ (MatArm pats: [ (Num v=0) ] '
     'body: (Num v=1)) ])) ; (Unary op="-" x: (Name name="x"))'),
    ('f = \\(x)\n    x\ng = 2',
     '(Assign op="=" target: (Name name="f") value: (Lambda params=["x"] body: (Block stmts: [ (Name name="x") ]))) '
     '; (Assign op="=" target: (Name name="g") value: (Num v=2))'),
    ('x <- xs: f = \\() x',
     '(For names=["x"] iter: (Name name="xs") body: (Assign op="=" target: (Name name="f") value: (Lambda params=[] '
     'body: (Name name="x"))))'),
]


@pytest.mark.parametrize("src, expected", BLOCK_LAMBDAS)
def test_block_lambdas(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# Implicit continuation inside brackets.
CONTINUATIONS = [
    ('x = [\n    1,\n    2,\n]',
     '(Assign op="=" target: (Name name="x") value: (List items: [ (Num v=1) (Num v=2) ]))'),
    ('f(a,\n  b) =\n    a',
     '(FnDef name="f" params=["a", "b"] body: (Block stmts: [ (Name name="a") ]))'),
    ('whl f(a,\n      b):\n    c',
     '(Whl cond: (Call fn: (Name name="f") args: [ (Name name="a") (Name name="b") ]) body: (Block stmts: [ (Name '
     'name="c") ]))'),
    ('x = (1 +\n  2)\ny = 3',
     '(Assign op="=" target: (Name name="x") value: (Bin op="+" l: (Num v=1) r: (Num v=2))) ; (Assign op="=" target: '
     '(Name name="y") value: (Num v=3))'),
    ('o = {\n  a: 1,\n\n  # a comment\n  b: 2,\n}',
     '(Assign op="=" target: (Name name="o") value: (Obj keys=["a", "b"] vals: [ (Num v=1) (Num v=2) ]))'),
    ('if f(a,\n     b): c\n| d',
     '(If conds: [ (Call fn: (Name name="f") args: [ (Name name="a") (Name name="b") ]) ] bodies: [ (Name name="c") '
     '] els: (Name name="d"))'),
    ('f(x) =\n    y = g(x,\n  1)\n    y',
     '(FnDef name="f" params=["x"] body: (Block stmts: [ (Assign op="=" target: (Name name="y") value: (Call fn: '
     '(Name name="g") args: [ (Name name="x") (Num v=1) ])) (Name name="y") ]))'),
]


@pytest.mark.parametrize("src, expected", CONTINUATIONS)
def test_continuations(src: str, expected: str) -> None:
    assert stmts_shape(src) == expected


# Errors: (source, line, col, kind, message).
ERRORS = [
    ('x = 1 +* 2', 1, 8, 'syntax error', "unexpected '*'"),
    ('f(x))', 1, 5, 'syntax error', "unexpected ')'"),
    ('a < b < c', 1, 7, 'syntax error', 'comparison operators cannot be chained'),
    ('a == b != c', 1, 8, 'syntax error', 'comparison operators cannot be chained'),
    ('1 < 2 >= 3', 1, 7, 'syntax error', 'comparison operators cannot be chained'),
    ('1 = 2', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('f(1) = 2', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('f(x) + 1 = 2', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('a?.b = 1', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('a?[0] = 1', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('a + b += 1', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('"s" = 1', 1, 1, 'syntax error', 'cannot assign to this expression'),
    ('f() = 1 = 2', 1, 7, 'syntax error', 'cannot assign to this expression'),
    ('x = y = 1', 1, 7, 'syntax error', "unexpected '='"),
    ('if x prn 1', 1, 6, 'syntax error', "expected ':' after the condition"),
    ('whl x\n    y', 1, 6, 'syntax error', "expected ':' after the condition"),
    ('x <- xs prn x', 1, 9, 'syntax error', "expected ':' after the loop's expression"),
    ('x.y z', 1, 5, 'syntax error', "unexpected name 'z'"),
    ('f x y', 1, 5, 'syntax error', "unexpected name 'y'"),
    ('o.f 1', 1, 5, 'syntax error', 'unexpected number'),
    ('mat x\n    0: 1', 1, 6, 'syntax error', "expected ':' after the matched expression"),
    ('mat x: 0', 1, 8, 'syntax error', "expected the arms of 'mat' on the following lines"),
    ('x = mat n: 0', 1, 12, 'syntax error', "expected the arms of 'mat' on the following lines"),
    ('mat x:\n    y: 1', 2, 5, 'syntax error', 'expected a literal pattern'),
    ('mat x:\n    0 1', 2, 7, 'syntax error', "expected ':' or '=>' after the pattern"),
    ('mat x:\n    _, 1: 2', 2, 6, 'syntax error', "expected ':' or '=>' after the pattern"),
    ('mat x:\n    - y: 2', 2, 5, 'syntax error', 'expected a literal pattern'),
    ('mat x:\n    $"{a}": 1', 2, 5, 'syntax error', 'expected a literal pattern'),
    ('f(x) =\ny', 2, 1, 'syntax error', 'expected an indented block'),
    ('if c:\nprn 1', 2, 1, 'syntax error', 'expected an indented block'),
    ('x = 1\n    y = 2', 2, 5, 'syntax error', 'unexpected indent'),
    ('use 5', 1, 5, 'syntax error', "expected a module name or a path after 'use'"),
    ('use', 1, 4, 'syntax error', "expected a module name or a path after 'use'"),
    ('def 5 = 1', 1, 5, 'syntax error', "expected a name after 'def'"),
    ('def x 1', 1, 7, 'syntax error', "expected '=' after the constant's name"),
    ('def = 1', 1, 5, 'syntax error', "expected a name after 'def'"),
    ('f(a, a) = 1', 1, 6, 'syntax error', "duplicate parameter 'a'"),
    ('\\(a, a) 1', 1, 6, 'syntax error', "duplicate parameter 'a'"),
    ('\\(1) 1', 1, 3, 'syntax error', 'expected a parameter name'),
    ('\\x x', 1, 2, 'syntax error', "expected '('"),
    ('fn x', 1, 4, 'syntax error', "expected '('"),
    ('o.5', 1, 3, 'syntax error', 'expected a field name'),
    ('o.if', 1, 3, 'syntax error', 'expected a field name'),
    ('{if: 1}', 1, 2, 'syntax error', 'expected an object key (a name or a string)'),
    ('{a 1}', 1, 4, 'syntax error', "expected ':' after the object key"),
    ('{a: 1 b: 2}', 1, 7, 'syntax error', "expected ',' or '}'"),
    ('{$"k": 1}', 1, 2, 'syntax error', 'expected an object key (a name or a string)'),
    ('[1 2]', 1, 4, 'syntax error', "expected ',' or ']'"),
    ('[,]', 1, 2, 'syntax error', "unexpected ','"),
    ('f(1 2)', 1, 5, 'syntax error', "expected ',' or ')'"),
    ('f(,)', 1, 3, 'syntax error', "unexpected ','"),
    ('xs[1 2]', 1, 6, 'syntax error', "expected ']'"),
    ('xs[]', 1, 4, 'syntax error', "unexpected ']'"),
    ('(1 2)', 1, 4, 'syntax error', "expected ')'"),
    ('()', 1, 2, 'syntax error', "unexpected ')'"),
    ('brk', 1, 1, 'error', 'brk outside a loop'),
    ('cnt', 1, 1, 'error', 'cnt outside a loop'),
    ('ret', 1, 1, 'error', 'ret outside a function'),
    ('ret 1', 1, 1, 'error', 'ret outside a function'),
    ('if c: brk', 1, 7, 'error', 'brk outside a loop'),
    ('x <- xs:\n    f = \\()\n        brk', 3, 9, 'error', 'brk outside a loop'),
    ('f() =\n    brk', 2, 5, 'error', 'brk outside a loop'),
    ('whl c:\n    f() = cnt', 2, 11, 'error', 'cnt outside a loop'),
    ('x <- xs: g = \\() cnt', 1, 18, 'syntax error', "unexpected 'cnt'"),
    ('x = 1 2', 1, 7, 'syntax error', 'unexpected number'),
    ('| b', 1, 1, 'syntax error', "unexpected '|'"),
    ('x = 1\n| 2', 2, 1, 'syntax error', "unexpected '|'"),
    ('if c: a\n|| b', 2, 2, 'syntax error', "unexpected '|'"),
    ('f = \\(x)\n    x\n+ 1', 3, 1, 'syntax error', "unexpected '+'"),
    ('x = $"a {1 +} b"', 1, 13, 'syntax error', "unexpected '}'"),
    ('x = $"a {)} b"', 1, 10, 'syntax error', "unexpected ')'"),
    ('prn $"ok {a b}"', 1, 13, 'syntax error', "unexpected name 'b'"),
    ('x = $"{$"<{1 +}>"}"', 1, 15, 'syntax error', "unexpected '}'"),
    ('x = $"{a}" +', 1, 13, 'syntax error', 'unexpected end of line'),
    ('a..b..c', 1, 5, 'syntax error', "unexpected '..'"),
    ('x = if c', 1, 9, 'syntax error', "expected ':' after the condition"),
    ('if c: 1 |', 1, 10, 'syntax error', 'expected an indented block'),
    ('prn x,', 1, 7, 'syntax error', 'unexpected end of line'),
    ('prn x y', 1, 7, 'syntax error', "unexpected name 'y'"),
    ('x = -', 1, 6, 'syntax error', 'unexpected end of line'),
    ('x = 1 and', 1, 10, 'syntax error', 'unexpected end of line'),
    ('and', 1, 1, 'syntax error', "unexpected 'and'"),
    ('x = not', 1, 8, 'syntax error', 'unexpected end of line'),
    ('f (x) = 1', 1, 7, 'syntax error', "unexpected '='"),
    ('f(x) = ', 1, 8, 'syntax error', 'expected an indented block'),
    ('x <- xs: ret', 1, 10, 'error', 'ret outside a function'),
    ('x <- 1..3: prn x\nbrk', 2, 1, 'error', 'brk outside a loop'),
    ('f = \\() ret 1', 1, 9, 'syntax error', "unexpected 'ret'"),
    ('f(x) =\n    g = \\()\n        ret x\n    ret\nret', 5, 1, 'error', 'ret outside a function'),
]


@pytest.mark.parametrize("src, line, col, kind, message", ERRORS)
def test_errors(src: str, line: int, col: int, kind: str, message: str) -> None:
    with pytest.raises(CompileError) as info:
        parse(src, "t.ilu")
    e = info.value
    assert (e.line, e.col, e.kind, e.message) == (line, col, kind, message)


def test_error_render_shows_the_line_and_a_caret() -> None:
    with pytest.raises(CompileError) as info:
        parse("prn 1\nx = (1 +) * 2\n", "m.ilu")
    assert info.value.render() == "m.ilu:2:9: syntax error: unexpected ')'\n    x = (1 +) * 2\n            ^"


def test_loop_error_render_says_error() -> None:
    with pytest.raises(CompileError) as info:
        parse("brk\n", "m.ilu")
    assert info.value.render().startswith("m.ilu:1:1: error: brk outside a loop")


def test_interpolation_error_shows_the_file_line() -> None:
    with pytest.raises(CompileError) as info:
        parse('a = 1\nprn $"v={a +}"\n', "m.ilu")
    e = info.value
    assert (e.line, e.col, e.source_line) == (2, 13, 'prn $"v={a +}"')


# ---- positions ---------------------------------------------------------------------

POSITIONS_SRC = '''use trl
f(a, b) =
    x <- a..b: prn x
    ret -a.c[1](2)
g = \\(y) (y + 1) * 2
v = xs |> trl.map(g)
o.k = if v: "s" | $"n={v}"
mat v:
    -1 => 0
'''


def test_every_node_is_at_its_first_token() -> None:
    got = re.findall(r"\((\w+) @(\d+:\d+)", A.dump(parse(POSITIONS_SRC, "t.ilu")))
    assert [f"{tag}@{pos}" for tag, pos in got] == [
        "Program@1:1", "Use@1:1",
        "FnDef@2:1", "Block@3:5", "For@3:5", "Bin@3:10", "Name@3:10", "Name@3:13",
        "Call@3:16", "Name@3:16", "Name@3:20",
        "Ret@4:5", "Unary@4:9", "Call@4:10", "Index@4:10", "Field@4:10", "Name@4:10",
        "Num@4:14", "Num@4:17",
        "Assign@5:1", "Name@5:1", "Lambda@5:5", "Bin@5:10", "Bin@5:11", "Name@5:11",
        "Num@5:15", "Num@5:20",
        "Assign@6:1", "Name@6:1", "Call@6:5", "Field@6:11", "Name@6:11", "Name@6:5", "Name@6:19",
        "Assign@7:1", "Field@7:1", "Name@7:1", "If@7:7", "Name@7:10", "Str@7:13",
        "Interp@7:19", "Str@7:19", "Name@7:24",
        "Mat@8:1", "Name@8:5", "MatArm@9:5", "Num@9:5", "Num@9:11",
    ]


def test_parse_expr_text_maps_positions() -> None:
    node = parse_expr_text("  a + f(b)", "t.ilu", 3, 10)
    assert re.findall(r"@(\d+:\d+)", A.dump(node)) == ["3:12", "3:12", "3:16", "3:16", "3:18"]


def test_parse_expr_text_maps_errors() -> None:
    with pytest.raises(CompileError) as info:
        parse_expr_text("1 +* 2", "t.ilu", 2, 5, source="line one\nxx {1 +* 2}\n")
    e = info.value
    assert (e.file, e.line, e.col, e.message, e.source_line) == ("t.ilu", 2, 8, "unexpected '*'", "xx {1 +* 2}")


def test_parse_expr_text_maps_lexical_errors() -> None:
    with pytest.raises(CompileError) as info:
        parse_expr_text("a ; b", "t.ilu", 4, 20)
    assert (info.value.line, info.value.col, info.value.message) == (4, 22, "unexpected character ';'")


def test_parse_expr_text_rejects_trailing_tokens() -> None:
    with pytest.raises(CompileError) as info:
        parse_expr_text("a b", "t.ilu", 1, 1)
    assert (info.value.col, info.value.message) == (3, "unexpected name 'b'")


# ---- whole programs ------------------------------------------------------------------

def test_empty_and_comment_only_modules() -> None:
    assert parse("", "t.ilu").stmts == []
    assert parse("# @requires fs\n\n# nothing else\n", "t.ilu").stmts == []


@pytest.fixture
def deep_stack() -> Iterator[None]:
    """The recursion limit the command line gives the compiler (stage0/cli/proc.py in_big_stack)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(50_000)
    yield
    sys.setrecursionlimit(old)


def test_deep_nesting_is_a_compile_error_not_a_crash(deep_stack: None) -> None:
    depth = 5000
    with pytest.raises(CompileError) as info:
        parse("x = " + "(" * depth + "1" + ")" * depth, "t.ilu")
    # The 1000th bracket's contents are the 1001st nested expression (MAX_NESTING).
    assert (info.value.line, info.value.col, info.value.message) == (1, 1005, "too deeply nested")


def test_shallow_stack_still_gives_the_error_not_a_crash() -> None:
    """Under Python's default recursion limit the seed runs out before MAX_NESTING: same message."""
    with pytest.raises(CompileError) as info:
        parse("x = " + "(" * 1000 + "1" + ")" * 1000, "t.ilu")
    assert info.value.message == "too deeply nested"


def test_nesting_limit_is_the_language_s_not_the_host_s(deep_stack: None) -> None:
    """Exactly MAX_NESTING levels parse, whatever the recursion limit allows; one more does not."""
    ok = "x = " + "(" * 999 + "1" + ")" * 999
    assert parse(ok, "t.ilu").stmts
    with pytest.raises(CompileError) as info:
        parse("x = " + "(" * 1000 + "1" + ")" * 1000, "t.ilu")
    assert info.value.col == 1005


def test_moderate_nesting_parses() -> None:
    assert expr_shape("(" * 30 + "1" + ")" * 30) == "(Num v=1)"


def test_crlf_source() -> None:
    assert stmts_shape("f(x) =\r\n    x\r\nprn f(1)\r\n") == stmts_shape("f(x) =\n    x\nprn f(1)\n")


def test_statement_and_expression_if_are_the_same_node() -> None:
    assert stmts_shape("if c: a | b") == expr_shape("if c: a | b")


SPEC_EXAMPLE = '''use trl

sq(x) = x * x
total(xs) =
    s = 0
    x <- xs: s += x
    s

nums = 1..5
prn total(trl.map(nums, sq))           # 55
prn nums |> trl.fil(\\(x) x % 2 == 0)   # [2, 4]
r = try(\\() err("boom"))
prn r.err or "fine"                    # boom
kind(n) = mat n:
    0: "zero"
    1, 2: "small"
    _: "many"
prn $"{kind(0)} {kind(2)} {kind(9)}"    # zero small many
'''


def test_contract_example() -> None:
    prog = parse(SPEC_EXAMPLE, "t.ilu")
    assert [type(s).__name__ for s in prog.stmts] == [
        "Use", "FnDef", "FnDef", "Assign", "Call", "Call", "Assign", "Call", "FnDef", "Call"]


def _conformance_files() -> list[Path]:
    return sorted(p for p in CONFORMANCE.glob("*.ilu") if p.name != "syntax_error.ilu")


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="shared conformance suite not present")
@pytest.mark.parametrize("path", _conformance_files(), ids=lambda p: p.name)
def test_conformance_programs_parse(path: Path) -> None:
    prog = parse(path.read_text(encoding="utf-8"), path.name)
    assert prog.stmts


@pytest.mark.skipif(not CONFORMANCE.is_dir(), reason="shared conformance suite not present")
def test_conformance_syntax_error_fails_at_line_2() -> None:
    path = CONFORMANCE / "syntax_error.ilu"
    with pytest.raises(CompileError) as info:
        parse(path.read_text(encoding="utf-8"), path.name)
    assert (info.value.line, info.value.kind) == (2, "syntax error")
