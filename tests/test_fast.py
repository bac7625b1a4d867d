"""The fast host tier (stage0/fast/vm.py) against the reference interpreter.

Every tier is checked against the reference interpreter by differential
tests: every spec program, and a few hundred random programs generated as
source text, must give the same exit status, standard output and standard
error (messages and traces) on both engines. Then the fast tier's own
obligations: million-step tail calls, catchable stack overflow, traces.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_runner import spec_files

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import RuntimeErr
from stage0.fast.vm import FastVM
from stage0.host.registry import DEFAULT_CAPS
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.interp.vm import DEFAULT_MAX_DEPTH, VM
from stage0.seedc.driver import compile_file
from stage0.toolchain.engines import execute
from stage0.toolchain.programs import load_program

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "conformance"
FILES = spec_files(ROOT / "tests" / "spec", SHARED)
GEN = ROOT / "tests" / "generated.ilu"  # never written: names the generated programs in traces

Result = tuple[int, str, str]


def run_path(path: Path, engines: tuple[str, ...] = ("ref", "fast")) -> tuple[Result, ...]:
    """Compile a program file once, from its own folder, as `ilusm run` does; run the image on
    each engine. (status, stdout, stderr) for each (a compile error: the same for each)."""
    old = os.getcwd()
    os.chdir(path.parent)
    try:
        images: list[Image] = []
        err = io.StringIO()

        def compile_it() -> int:
            images.append(load_program(path.name, "self")[0])
            return 0

        status = in_big_stack(lambda: guarded(compile_it, err))
        if not images:  # a compile error: nothing runs, on any engine
            return tuple((status, "", err.getvalue()) for _ in engines)
        return tuple(run_image(images[0], engine) for engine in engines)
    finally:
        os.chdir(old)


def run_image(image: Image, engine: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Result:
    """Run an image as `ilusm run` would; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()  # execute() raises it; hypothesis wants it back
    try:
        status = in_big_stack(lambda: guarded(lambda: execute(image, [], max_depth, out=out, engine=engine), err))
    finally:
        sys.setrecursionlimit(limit)
    return status, out.getvalue(), err.getvalue()


def image_of(text: str) -> Image:
    """Source text compiled (by the seed compiler: quick, and byte-identical to the self-hosted one)."""
    return ilbc.read(ilbc.write(compile_file(GEN, source=text)))


def run_source(text: str, engine: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Result:
    """Compile source text and run it; (status, stdout, stderr)."""
    return run_image(image_of(text), engine, max_depth)


def both(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> Result:
    """Run on both engines, insist they agree, give the result."""
    image = image_of(text)
    ref = run_image(image, "ref", max_depth)
    fast = run_image(image, "fast", max_depth)
    assert fast == ref, f"engines differ on:\n{text}\n--- ref\n{ref}\n--- fast\n{fast}"
    return ref


# ---- (a) every spec program ----------------------------------------------------------

@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spec_program_same_on_both_engines(path: Path) -> None:
    """Same status, stdout and stderr (messages and traces) on both engines."""
    ref, fast = run_path(path)
    assert fast == ref


def test_spec_suite_is_there() -> None:
    """The differential test above really covers the spec suite."""
    assert len(FILES) >= 200


# ---- (b) random programs -------------------------------------------------------------
#
# Programs are generated as source text from a small typed grammar: expressions
# are mostly well-typed (numbers with numbers, strings with strings, lists,
# objects), with an ill-typed operand now and then so that every runtime error
# path is taken too. The body is cut into sections, each a function run under
# `try`, so an error ends one section and the rest still runs; the last section
# runs at the top level, where an error is uncaught and prints its trace.

Draw = Callable[..., Any]
TYPES = ("num", "str", "bool", "lst", "obj")
NUM_LIT = st.one_of(st.integers(min_value=-5, max_value=40).map(lambda i: f"({i})" if i < 0 else str(i)),
                    st.sampled_from(["0.5", "2.25", "1e3", "0.1", "3.0", "12345678901234567890"]))
STR_LIT = st.sampled_from(['""', '"a"', '"bc"', '"x y"', "'q'", '"é"'])


class Env:
    """Readable variables by type, and callable functions as (name, parameter types, result type)."""

    def __init__(self, names: dict[str, tuple[str, ...]], funcs: tuple[tuple[str, tuple[str, ...], str], ...]) -> None:
        self.names, self.funcs = names, funcs

    def plus(self, name: str, typ: str) -> "Env":
        names = dict(self.names)
        names[typ] = tuple(sorted(set(names.get(typ, ())) | {name}))
        return Env(names, self.funcs)


@st.composite
def typed(draw: Draw, env: Env, typ: str, depth: int) -> str:
    """An expression of the given type (now and then, deliberately, of another)."""
    if depth > 0 and draw(st.integers(min_value=0, max_value=24)) == 0:
        typ = draw(st.sampled_from(TYPES + ("nil",)))
    sub = lambda t: typed(env, t, depth - 1)  # noqa: E731
    vars_ = env.names.get(typ, ())
    leaf = draw(st.integers(min_value=0, max_value=3)) if depth > 0 else 0
    if typ == "nil":
        return "nil"
    if leaf == 0 or depth <= 0:
        if vars_ and draw(st.booleans()):
            return draw(st.sampled_from(vars_))
        if typ == "num":
            return draw(NUM_LIT)
        if typ == "str":
            return draw(STR_LIT)
        if typ == "bool":
            return draw(st.sampled_from(["tru", "fls"]))
        if typ == "lst":
            return draw(st.sampled_from(["[]", "[1, 2, 3]", '["a", nil, 2.5]', "[[1], [2, 3]]"]))
        return draw(st.sampled_from(["{}", "{k: 1}", '{k: 2, m: "s"}', '{"X-Y": [1]}']))
    funcs = [f for f in env.funcs if f[2] == typ]
    if funcs and draw(st.integers(min_value=0, max_value=5)) == 0:
        name, params, _ = draw(st.sampled_from(funcs))
        if draw(st.integers(min_value=0, max_value=12)) == 0:
            params = params[:-1] if params else ("num",)  # a wrong argument count now and then
        return f"{name}({', '.join(draw(sub(p)) for p in params)})"
    k = draw(st.integers(min_value=0, max_value=5))
    if k == 0:
        return f"(if {draw(sub('bool'))}: {draw(sub(typ))} | {draw(sub(typ))})"
    if k == 1:
        return f"try(\\() {draw(sub(typ))}).val"
    pick = draw(st.integers(min_value=0, max_value=5))
    some = lambda: sub(draw(st.sampled_from(TYPES)))  # noqa: E731
    if typ == "num":
        if pick == 0:
            return f"({draw(sub('num'))} {draw(st.sampled_from(['+', '-', '*', '%', '/']))} {draw(sub('num'))})"
        if pick == 1:
            return f"(-{draw(sub('num'))})"
        if pick == 2:
            return f"len({draw(sub(draw(st.sampled_from(['str', 'lst', 'obj']))))})"
        if pick == 3:
            return f"{draw(sub('lst'))}[{draw(sub('num'))}]"
        if pick == 4:
            return f"int({draw(sub('num'))})"
        return f"(\\(q) q * 2)({draw(sub('num'))})"
    if typ == "str":
        if pick <= 1:
            return f"({draw(sub('str'))} + {draw(some())})"
        if pick == 2:
            return f'$"<{{{draw(some())}}}:{{{draw(sub("num"))}}}>"'
        if pick == 3:
            return f"str({draw(some())})"
        if pick == 4:
            return f"{draw(sub('str'))}[{draw(sub('num'))}]"
        return f"typ({draw(some())})"
    if typ == "bool":
        if pick <= 1:
            t = draw(st.sampled_from(["num", "num", "str"]))
            return f"({draw(sub(t))} {draw(st.sampled_from(['<', '>', '<=', '>=', '==', '!=']))} {draw(sub(t))})"
        if pick == 2:
            return f"({draw(some())} {draw(st.sampled_from(['==', '!=']))} {draw(some())})"
        if pick == 3:
            return f"(not {draw(some())})"
        if pick == 4:
            return f"({draw(sub('bool'))} {draw(st.sampled_from(['and', 'or']))} {draw(sub('bool'))})"
        return f"has({draw(sub('lst'))}, {draw(sub('num'))})"
    if typ == "lst":
        if pick <= 1:
            return f"[{', '.join(draw(some()) for _ in range(draw(st.integers(min_value=0, max_value=3))))}]"
        if pick == 2:
            return f"({draw(sub('lst'))} + {draw(sub('lst'))})"
        if pick == 3:
            return f"({draw(st.integers(min_value=-2, max_value=3))}..{draw(st.integers(min_value=-2, max_value=3))})"
        if pick == 4:
            return f"keys({draw(sub('obj'))})"
        return f"(if {draw(sub('bool'))}: {draw(sub('lst'))} | xs)"
    if pick <= 3:
        return f"{{k: {draw(sub('num'))}, m: {draw(some())}}}"
    return f"{{n: {draw(sub('str'))}}}"


@st.composite
def statements(draw: Draw, env: Env, indent: int, depth: int, loop: bool, counter: list[int]) -> list[str]:
    """A block of statements; names assigned at this level become readable after their assignment."""
    pad = "    " * indent
    out: list[str] = []
    for _ in range(draw(st.integers(min_value=1, max_value=5))):
        k = draw(st.integers(min_value=0, max_value=13))
        if k <= 2:
            typ = draw(st.sampled_from(TYPES))
            known = tuple(n for n in env.names.get(typ, ()) if not n.startswith("w"))  # loop counters stay
            if known and typ in ("num", "str") and draw(st.booleans()):
                name = draw(st.sampled_from(known))
                if name in ("n0", "t0", "xs", "o"):  # globals are read in functions, not assigned
                    name = f"{typ[0]}{indent}"
                op = draw(st.sampled_from(["+=", "=", "-=", "*="] if typ == "num" else ["+=", "="]))
            else:
                name, op = f"{typ[0]}{indent}", "="
            if op != "=" and name not in known:
                op = "="
            rhs = Env({t: tuple(n for n in ns if n != name) for t, ns in env.names.items()}, env.funcs)
            out.append(f"{pad}{name} {op} {draw(typed(rhs, typ, 3))}")
            env = env.plus(name, typ)
        elif k <= 4:
            args = [draw(typed(env, draw(st.sampled_from(TYPES)), 2)) for _ in range(draw(st.integers(1, 3)))]
            out.append(f"{pad}prn({', '.join(args)})")
        elif k == 5 and depth > 0:
            out.append(f"{pad}if {draw(typed(env, 'bool', 2))}:")
            out += draw(statements(env, indent + 1, depth - 1, loop, counter))
            for _ in range(draw(st.integers(min_value=0, max_value=2))):
                out.append(f"{pad}| if {draw(typed(env, 'bool', 2))}:")
                out += draw(statements(env, indent + 1, depth - 1, loop, counter))
            if draw(st.booleans()):
                out.append(f"{pad}|")
                out += draw(statements(env, indent + 1, depth - 1, loop, counter))
        elif k == 6 and depth > 0:
            counter[0] += 1
            ctr = f"w{counter[0]}"
            out.append(f"{pad}{ctr} = 0")
            out.append(f"{pad}whl {ctr} < {draw(st.integers(min_value=0, max_value=3))}:")
            out.append(f"{pad}    {ctr} += 1")
            out += draw(statements(env.plus(ctr, "num"), indent + 1, depth - 1, True, counter))
        elif k == 7 and depth > 0:
            counter[0] += 1
            var = f"e{counter[0]}"
            src, typ = draw(st.sampled_from([("[1, 2.5, 7]", "num"), ("1..4", "num"), ("3..0", "num"),
                                             ('"abc"', "str"), ("xs + []", "num"), ("[]", "num")]))
            if draw(st.booleans()):
                out.append(f"{pad}i{counter[0]}, {var} <- {src}:")
                inner = env.plus(var, typ).plus(f"i{counter[0]}", "num")
            else:
                out.append(f"{pad}{var} <- {src}:")
                inner = env.plus(var, typ)
            out += draw(statements(inner, indent + 1, depth - 1, True, counter))
        elif k == 8 and loop:
            jump = draw(st.sampled_from(["brk", "cnt"]))
            if draw(st.booleans()):
                out.append(f"{pad}if {draw(typed(env, 'bool', 2))}: {jump}")
            else:  # inside an if block used as an operand: what the operand pushed is popped first
                out.append(f"{pad}prn {draw(typed(env, 'num', 2))}, 1 + if {draw(typed(env, 'bool', 2))}:")
                out.append(f"{pad}    {jump}")
                out.append(f"{pad}| {draw(typed(env, 'num', 2))}")
        elif k == 9 and depth > 0:
            out.append(f"{pad}mat {draw(typed(env, draw(st.sampled_from(['num', 'str'])), 2))}:")
            arms = draw(st.lists(st.sampled_from(["0", "1", "-1", '"a"', '""', "nil", "tru", "2, 3", "0.5"]),
                                 min_size=1, max_size=4, unique=True))
            for arm in arms:
                out.append(f"{pad}    {arm}: prn({draw(typed(env, 'num', 1))})")
            if draw(st.booleans()):
                out.append(f"{pad}    _: prn(\"other\")")
        elif k == 10:
            out.append(f"{pad}prn(try(\\() {draw(typed(env, draw(st.sampled_from(TYPES)), 3))}))")
        elif k == 11:
            target = draw(st.sampled_from(["xs[0]", "xs[-1]", "o.k", 'o["m"]']))
            out.append(f"{pad}{target} = {draw(typed(env, 'num', 2))}")
        elif k == 12:
            out.append(f"{pad}push(xs, {draw(typed(env, 'num', 2))})")
        else:
            out.append(f"{pad}prn({draw(typed(env, 'num', 3))})")
    return out


@st.composite
def function(draw: Draw, env: Env, name: str) -> tuple[list[str], tuple[str, tuple[str, ...], str]]:
    """A function: expression body, bounded (tail) recursion, a closure, or a block body."""
    kind = draw(st.integers(min_value=0, max_value=3))
    if kind == 0:
        params = tuple(draw(st.lists(st.sampled_from(("num", "str")), max_size=2)))
        names = [f"p{i}" for i in range(len(params))]
        inner = env
        for n, t in zip(names, params):
            inner = inner.plus(n, t)
        typ = draw(st.sampled_from(TYPES))
        return [f"{name}({', '.join(names)}) = {draw(typed(inner, typ, 3))}"], (name, params, typ)
    if kind == 1:
        inner = env.plus("n", "num").plus("acc", "num")
        step = draw(typed(inner, "num", 2))
        lines = [f"{name}(n, acc) =", "    if n <= 0 or n > 60: ret acc"]
        if draw(st.booleans()):
            lines.append(f"    {name}(n - 1, {step})")
        else:
            lines += [f"    r = {name}(n - 1, acc)", f"    r + {step}"]
        return lines, (name, ("num", "num"), "num")
    if kind == 2:
        body = draw(typed(env.plus("v", "num").plus("cap", "num"), "num", 2))
        return [f"{name}(p) =", "    cap = p", f"    g(v) = {body}", f"    cap = {draw(typed(env, 'num', 1))}",
                "    g(p)"], (name, ("num",), "num")
    lines = [f"{name}(p) ="] + draw(statements(env.plus("p", "num"), 1, 2, False, [100]))
    typ = draw(st.sampled_from(TYPES))
    lines.append(f"    {draw(typed(env.plus('p', 'num'), typ, 2))}")
    return lines, (name, ("num",), typ)


@st.composite
def program(draw: Draw) -> str:
    """Globals, functions, sections run under try, and a last section at the top level."""
    lines = ["xs = [1, 2, 3]", 'o = {k: 1, m: "z"}', "n0 = 7", 't0 = "s"']
    env = Env({"lst": ("xs",), "obj": ("o",), "num": ("n0",), "str": ("t0",)}, ())
    for i in range(draw(st.integers(min_value=1, max_value=4))):
        code, sig = draw(function(env, f"f{i}"))
        lines += code
        env = Env(env.names, env.funcs + (sig,))
    counter = [0]
    for i in range(draw(st.integers(min_value=1, max_value=3))):
        lines.append(f"s{i}() =")
        lines += draw(statements(env, 1, 2, False, counter))
        lines.append(f"prn(try(s{i}).err)")
    lines += draw(statements(env, 0, 2, False, counter))
    return "\n".join(lines) + "\n"


@settings(max_examples=120, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(program())
def test_random_programs_same_on_both_engines(text: str) -> None:
    """Arithmetic, comparisons, branches, loops, recursion, closures, containers, try: both engines agree."""
    both(text)


def test_generated_programs_do_run() -> None:
    """The generator is not vacuous: programs compile, print, and mostly run to their end."""
    results: list[Result] = []

    @settings(max_examples=100, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(program())
    def collect(text: str) -> None:
        results.append(run_source(text, "fast"))

    collect()
    statuses = [r[0] for r in results]
    assert 65 not in statuses, [r for r in results if r[0] == 65][:1]
    assert statuses.count(0) > len(statuses) // 3, statuses
    assert sum(len(r[1].splitlines()) for r in results) > 3 * len(results)


# ---- (c) tail calls, (d) stack overflow, (e) traces ----------------------------------------

def test_tail_call_a_million_deep() -> None:
    """A tail-recursive loop of 1,000,000 steps runs in constant Python stack."""
    src = "count(n, acc) = if n == 0: acc | count(n - 1, acc + 1)\nprn count(1000000, 0)\n"
    assert run_source(src, "fast") == (0, "1000000\n", "")


def test_mutual_tail_calls_a_million_deep() -> None:
    """Tail calls between two functions (and through ret) do not grow the stack either."""
    src = ("ev(n) =\n    if n == 0: ret tru\n    ret od(n - 1)\n"
           "od(n) = if n == 0: fls | ev(n - 1)\nprn ev(1000000), od(1000001)\n")
    assert run_source(src, "fast") == (0, "tru tru\n", "")


def test_stack_overflow_caught_by_try() -> None:
    """Deeper than max_depth is the catchable `stack overflow`; within it recursion works; same as ref."""
    src = ("down(n) = if n == 0: 0 | 1 + down(n - 1)\n"
           "prn down(9000)\n"
           "r = try(\\() down(100000))\n"
           "prn r.err, r.val\n"
           "f() = 1 + f()\n"
           "prn try(f).err\n"
           "prn down(10)\n")
    assert both(src) == (0, "9000\nstack overflow nil\nstack overflow\n10\n", "")


def test_depth_limit_is_exact() -> None:
    """`max_depth` active calls work and one more overflows, counted exactly as the reference does."""
    src = ("down(n) = if n == 0: 0 | 1 + down(n - 1)\n"
           "prn try(\\() down(48)).val\n"
           "prn try(\\() down(49)).err\n")
    # down(48) needs 50 frames: the module body, then down(48) .. down(0) (the lambda's frame
    # is gone: it tail-calls down)
    assert both(src, max_depth=50) == (0, "48\nstack overflow\n", "")


# Recursions that count `c.n` once a round, with the frames one round holds
# (docs/decisions.md defines the depth: the module body and every active call
# count one, a tail call replaces its frame, a function a builtin calls back
# counts one).
DEPTH_SHAPES = {
    "plain": ("f() =\n    c.n += 1\n    1 + f()\n", 1),
    "try": ("f() =\n    c.n += 1\n    try(f)\n", 1),
    "tail": ("f() =\n    c.n += 1\n    g()\ng() = 1 + f()\n", 1),
    "tail then try": ("g() = try(f)\nf() =\n    c.n += 1\n    g()\n", 1),
    "trl callback": ("use trl\nf() =\n    c.n += 1\n    trl.map([1], \\(x) f())\n", 1),
    "try in a call": ("f() =\n    c.n += 1\n    r = try(f)\n    r\n", 1),
    "mixed": ("use trl\nf() =\n    c.n += 1\n    x = b()\n    x\nb() = trl.fld([1], 0, \\(acc, v) k())\n"
              "k() = try(k2)\nk2() = f()\n", 3),
}


@pytest.mark.parametrize("max_depth", [5, DEFAULT_MAX_DEPTH, 50_000])
@pytest.mark.parametrize("shape", sorted(DEPTH_SHAPES))
def test_depth_reached_is_the_same(shape: str, max_depth: int) -> None:
    """Both engines overflow at exactly max_depth frames, whatever mixture of calls leads there."""
    body, per_round = DEPTH_SHAPES[shape]
    src = "c = {n: 0}\n" + body + "try(f)\nprn c.n\n"
    # the first f runs at depth 2, after the module body
    assert both(src, max_depth=max_depth) == (0, f"{1 + (max_depth - 2) // per_round}\n", "")


def test_uncaught_stack_overflow() -> None:
    """An uncaught overflow ends the run with status 70 and the same message on both engines."""
    status, out, err = both("down(n) = if n == 0: 0 | 1 + down(n - 1)\nprn down(100000)\n")
    assert status == 70 and err.startswith("error: stack overflow\n")


def test_trace_three_calls_deep() -> None:
    """An uncaught error three calls deep has the reference VM's trace, frame for frame."""
    src = ("inner(x) =\n"
           "    y = x + 1\n"
           "    y / 0\n"
           "middle(x) =\n"
           "    r = inner(x)\n"
           "    r\n"
           "outer(x) =\n"
           "    v = middle(x)\n"
           "    v + 1\n"
           "prn \"start\"\n"
           "outer(1)\n")
    status, out, err = both(src)
    assert status == 70 and out == "start\n"
    assert err.splitlines() == [
        "error: division by zero",
        "  at <module> (generated.ilu:11)",
        "  at outer (generated.ilu:8)",
        "  at middle (generated.ilu:5)",
        "  at inner (generated.ilu:3)",
    ]


def trace_of(cls: type[VM], src: str) -> list[tuple[str, str, int]]:
    """The .trace of the RuntimeErr a program raises on an engine."""
    image = image_of(src)
    vm = cls(image, out=io.StringIO())
    with pytest.raises(RuntimeErr) as info:
        vm.run_main()
    assert info.value.trace is not None
    return info.value.trace


def test_trace_object_skips_tail_called_frames() -> None:
    """The RuntimeErr.trace lists are equal; a frame left by a tail call is not in it, a count is."""
    src = ("bad(x) = x.field\n"
           "hop(x) = bad(x)\n"
           "call(x) =\n"
           "    r = hop(x)\n"
           "    r\n"
           "call(5)\n")
    assert trace_of(FastVM, src) == trace_of(VM, src) == [
        ("<module>", "generated.ilu", 6), ("call", "generated.ilu", 4), 1, ("bad", "generated.ilu", 1)]


def test_trace_through_a_builtin_callback() -> None:
    """Errors inside functions called back by builtins (try, sorting) keep the full trace."""
    src = ("use trl\n"
           "key(x) = x.k\n"
           "go(xs) = trl.map(xs, key)\n"
           "r = try(\\() go([1]))\n"
           "prn r.err\n"
           "go([{k: 1}, 2])\n")
    status, out, err = both(src)
    assert status == 70 and "at key (generated.ilu:2)" in err


def test_unset_local_and_upvalue_messages() -> None:
    """Reading a local or a captured variable before assignment: the same message on both engines."""
    src = ("f(c) =\n"
           "    if c: x = 1\n"
           "    x\n"
           "prn try(\\() f(fls)).err\n"
           "g() =\n"
           "    h() = y\n"
           "    r = h()\n"
           "    y = 2\n"
           "    r\n"
           "prn try(g).err\n")
    assert both(src) == (0, "name 'x' used before assignment\nname 'y' used before assignment\n", "")


def test_call_errors() -> None:
    """Arity errors and calling non-functions, for closures, builtins, tail calls and host callbacks."""
    src = ("add(a, b) = a + b\n"
           "t(f) = f(1)\n"
           "prn try(\\() add(1)).err\n"
           "prn try(\\() t(add)).err\n"
           "prn try(\\() t(5)).err\n"
           "prn try(\\() len(1, 2)).err\n"
           "prn try(add).err\n"
           "prn try(\\() t(len)).err\n")
    out = both(src)[1].splitlines()
    assert out == ["add expects 2 arguments, got 1", "add expects 2 arguments, got 1", "cannot call num",
                   "len expects 1 argument, got 2", "add expects 2 arguments, got 0",
                   "len expects a str, lst, obj or buf, got num"]


def test_translation_is_lazy_and_deterministic() -> None:
    """Only called functions are translated; the generated source is the same every time."""
    src = "used(x) = x * 2\nunused(x) = x + 1\nprn used(4)\n"
    image = image_of(src)
    vm = FastVM(image, out=io.StringIO())
    vm.run_main()
    names = {p.name for p in vm.sources}
    assert names == {"<module>", "used"}
    again = FastVM(image, out=io.StringIO())
    assert [again.source(p) for p in again.protos] == [vm.source(p) for p in vm.protos]
    assert all(mode == "struct" for mode in vm.modes.values())


def test_engine_option_on_the_command_line(tmp_path: Path) -> None:
    """`ilusm run --engine fast` runs the fast tier; `--trace` forces the reference interpreter."""
    from click.testing import CliRunner

    from stage0.cli.commands import cli

    prog = tmp_path / "p.ilu"
    prog.write_text("f(n) = n * 2\nprn f(21)\n")
    res = CliRunner().invoke(cli, ["run", "--engine", "fast", str(prog)])
    assert res.exit_code == 0 and res.output == "42\n"
    res = CliRunner().invoke(cli, ["run", "--engine", "nope", str(prog)])
    assert res.exit_code == 2


# ---- the translator's fallbacks ----------------------------------------------------------

def modes_of(src: str) -> dict[str, str]:
    """Translate every function of a program; the emission mode each one got."""
    image = image_of(src)
    vm = FastVM(image, out=io.StringIO())
    return {p.name: (vm.translate(p), vm.modes[p])[1] for p in vm.protos}


def test_control_flow_shapes_and_fallbacks() -> None:
    """Long elif chains and big `mat`s stay structured; 25 nested loops (more than Python nests) use a
    dispatch loop; 120 nested ifs (deeper than Python indents) use one case per block; all agree."""
    chain = "k(x) =\n" + "".join(f"    {'if' if i == 0 else '| if'} x == {i}: ret {i}\n" for i in range(200))
    chain += "    -1\n"
    mat = "m(x) = mat x:\n" + "".join(f"    {i}: {i * 2}\n" for i in range(150)) + "    _: -1\n"
    loops = "h() =\n    n = 0\n" + "".join("    " * (k + 1) + f"i{k} <- {k}..{k + k % 2}:\n" for k in range(25))
    loops += "    " * 26 + "n += 1\n    n\n"
    ifs = "g(x) =\n" + "".join("    " * (k + 1) + f"if x > {k}:\n" for k in range(120))
    ifs += "    " * 121 + "ret 1\n    0\n"
    src = chain + mat + loops + ifs
    src += "s = 0\ni <- -1..201: s += k(i) + m(i)\nprn s, h(), g(500), g(50)\n"
    assert both(src)[0] == 0
    modes = modes_of(src)
    assert (modes["k"], modes["m"], modes["h"], modes["g"]) == ("struct", "struct", "dispatch", "flat")


def test_irreducible_flow_uses_the_dispatch_loop() -> None:
    """A loop entered in its middle (no source program makes one; an image may) still runs right."""
    from test_ilbc import fn

    from stage0.image.model import Image, ModuleEntry

    code = [
        ("PUSH_CONST", 0), ("STORE_LOCAL", 0), ("PUSH_TRU",), ("JUMP_IF", "mid"),
        ("label", "top"), ("LOAD_LOCAL", 0), ("PUSH_CONST", 1), ("ADD",), ("STORE_LOCAL", 0),
        ("label", "mid"), ("LOAD_LOCAL", 0), ("PUSH_CONST", 2), ("LT",), ("JUMP_IF", "top"),
        ("LOAD_GLOBAL", 2), ("LOAD_LOCAL", 0), ("CALL", 1), ("POP",), ("PUSH_NIL",), ("RET",),
    ]
    image = Image([0, 1, 5], ["main", "main.ilu", "prn"], [fn(0, code, nlocals=1, lines=[(0, 1)])],
                  [ModuleEntry(0, 1, 0)], 0)
    image = ilbc.read(ilbc.write(image))
    outs = []
    for cls in (VM, FastVM):
        out = io.StringIO()
        vm = cls(image, out=out)
        vm.run_main()
        outs.append(out.getvalue())
    assert outs == ["5\n", "5\n"]
    vm = FastVM(image, out=io.StringIO())
    vm.translate(vm.protos[0])
    assert vm.modes[vm.protos[0]] == "dispatch"


@pytest.mark.parametrize("name", ["f\u00b2", "a\x00b", "def", "f'\"\\n)", "1x"])
def test_any_function_name_runs(name: str) -> None:
    """Any string is a valid function (and global) name in an image; the fast tier runs it as the
    reference does, with the same output, error and trace."""
    src = ("fq(n) = if n == 0: err(\"boom\") | n + fq(n - 1)\n"
           "prn try(\\() fq(3)).err\nprn fq\nfq(2)\n")
    image = image_of(src)
    image.names[image.names.index("fq")] = name
    image = ilbc.read(ilbc.write(image))
    ref, fast = run_image(image, "ref"), run_image(image, "fast")
    assert fast == ref
    assert ref[0] == 70 and ref[1].startswith("boom\n") and "boom" in ref[2]


def big_function_source() -> str:
    """A function of more than FastVM.INTERPRET_FROM instructions, calling and called by translated
    functions, directly, through `try` and through a tail call, with errors and an overflow."""
    body = [f"    x{i} = n + {i}" for i in range(FastVM.INTERPRET_FROM // 3 + 100)]
    return "\n".join([
        "c = {n: 0}", "f(n) =", "    c.n += 1", "    r = try(\\() g(n))", "    r.val",
        "g(n) = if n == 0: err(\"deep\") | 1 + big(n - 1)", "big(n) =", *body,
        "    if n == 3: err(\"boom\")", "    if n == 4: ret mk()(n)", "    f(n)",
        "mk() = \\(v) v + 1",
        "prn f(2), big(4)", "prn try(\\() big(5)).err", "prn try(\\() f(100000)).err, c.n", "big(3)"]) + "\n"


def test_big_function_runs_on_the_reference_loop() -> None:
    """A function above the size threshold is interpreted inside the fast VM: same output, errors,
    trace and depth count; calls go both ways between it and translated functions."""
    src = big_function_source()
    status, out, err = both(src, max_depth=60)
    assert status == 70
    assert out == "nil 5\nnil\nnil 34\n" and err.startswith("error: boom\n  at <module>")
    vm = FastVM(image_of(src), out=io.StringIO())
    big = next(p for p in vm.protos if p.name == "big")
    vm.translate(big)
    assert vm.modes[big] == "interpret" and len(big.code) > FastVM.INTERPRET_FROM


def test_closures_from_another_image() -> None:
    """Globals shared between images (as the REPL does) carry closures the new VM never loaded."""
    shared: dict[str, Any] = {}
    outs = []
    for text in ["f(x) = x * 2\nadd(a, b) = a + b\n", "g(h) = h(1, 2)\nprn f(21), g(add), try(\\() f()).err\n"]:
        image = image_of(text)
        out = io.StringIO()
        vm = FastVM(image, out=out)
        vm.modules[image.entry].globals = shared
        vm.run_main()
        outs.append(out.getvalue())
    assert outs == ["", "42 3 f expects 1 argument, got 0\n"]


def test_the_self_hosted_compiler_on_both_engines() -> None:
    """The toolchain image (hundreds of functions of real ilusm) compiles to the same bytes, and reports
    the same compile error, when it runs on the fast tier: programs, and the whole of lib/ (itself)."""
    from stage0.errors import CompileError
    from stage0.paths import MAIN_MODULE, lib_root
    from stage0.toolchain.selfhost import Toolchain, toolchain_bytes

    data = toolchain_bytes()
    bad = ROOT / "tests" / "spec" / "syntax_errors"
    targets = [ROOT / "bench" / "qsort.ilu", ROOT / "lib" / "backend" / "compiler.ilu",
               next(iter(sorted(bad.glob("*.ilu"))))]
    results: dict[str, list[Any]] = {}

    def go() -> int:
        for engine in ("ref", "fast"):
            tc = Toolchain(data, engine=engine)
            for target in targets:
                try:
                    results.setdefault(engine, []).append(tc.compile_file(target))
                except CompileError as e:
                    results.setdefault(engine, []).append(e.render())
            results[engine].append(tc.compile_tree(lib_root(), MAIN_MODULE))
        return 0

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(40_000)
    try:
        assert in_big_stack(go) == 0
    finally:
        sys.setrecursionlimit(limit)
    assert results["fast"] == results["ref"]
    assert isinstance(results["ref"][0], bytes) and isinstance(results["ref"][2], str)


class DispatchVM(FastVM):
    """The fast tier made to emit every function as a dispatch loop."""

    MODES = ("dispatch",)

    def interpret(self, proto: Any) -> None:
        """Never fall back to the reference loop here: the emitter itself is under test."""
        raise AssertionError(f"{proto.name} was not translated")


class FlatVM(DispatchVM):
    """The fast tier made to emit every function with one dispatch case per block."""

    MODES = ("flat",)


class InterpretVM(FastVM):
    """The fast tier made to run every function on the reference loop (as it runs huge ones)."""

    MODES = ()


class MixedVM(FastVM):
    """The fast tier made to run functions above 40 instructions on the reference loop, so spec
    programs call back and forth between translated and interpreted functions."""

    INTERPRET_FROM = 40


def run_vm(cls: type[VM], image: Image, caps: frozenset[str] = DEFAULT_CAPS) -> Result:
    """Run an image on a VM class (holding caps) as execute() would; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()

    def go() -> int:
        sys.setrecursionlimit(4 * DEFAULT_MAX_DEPTH)
        cls(image, out=out, caps=caps).run_main()
        return 0

    limit = sys.getrecursionlimit()
    try:
        status = in_big_stack(lambda: guarded(go, err))
    finally:
        sys.setrecursionlimit(limit)
    return status, out.getvalue(), err.getvalue()


FALLBACKS = [DispatchVM, FlatVM, InterpretVM, MixedVM]


@pytest.mark.parametrize("cls", FALLBACKS, ids=["dispatch", "flat", "interpret", "mixed"])
def test_fallback_emission_on_spec_programs(cls: type[VM]) -> None:
    """The fallback emitters (normally used for odd control flow only) run the spec programs
    exactly as the reference does: each program on two of the four (every program on all four
    under ILUSM_FULL=1, which `make fuzz` sets)."""
    from stage0.errors import CompileError

    bad = []
    k = FALLBACKS.index(cls)
    full = os.environ.get("ILUSM_FULL") == "1"
    for i, path in enumerate(FILES):
        if not full and i % 2 != k % 2:
            continue
        try:
            image = ilbc.read(ilbc.write(compile_file(path)))
        except CompileError:
            continue
        old = os.getcwd()
        os.chdir(path.parent)
        try:
            if path not in REF_RESULTS:
                REF_RESULTS[path] = run_vm(VM, image)
            if run_vm(cls, image) != REF_RESULTS[path]:
                bad.append(path.name)
        finally:
            os.chdir(old)
    assert not bad


REF_RESULTS: dict[Path, Result] = {}


def test_inlined_builtins_keep_the_builtins_results_and_errors() -> None:
    """push, pop and len run inline for their common case; every other case is the builtin's."""
    text = ('xs = []\nys = push(xs, 1)\npush(xs, 2)\nprn(xs, ys == xs, len(xs), len("héllo"), len({a: 1}))\n'
            'prn(pop(xs), pop(xs), try(\\() pop(xs)).err, try(\\() push("s", 1)).err, try(\\() len(3)).err)\n'
            'b = __buf_new(3)\nprn(len(b))\n')
    status, out, _ = both(text)
    assert status == 0 and out.splitlines()[0] == "[1, 2] tru 2 5 1"
    assert "pop from empty list" in out


def test_inlined_builtins_appear_in_generated_code() -> None:
    vm = FastVM(image_of("f(xs) =\n    push(xs, len(xs))\n    pop(xs)\nprn(f([1]))\n"), out=io.StringIO())
    vm.run_main()
    source = "\n".join(vm.sources.values())
    assert "B_push" in source and "B_len" in source and "B_pop" in source


# A local compared with a number holds a number once the comparison has run (it raises
# otherwise), so the comparisons in the branches it guards need no type test.
NUMBER_TREE = ("f(x) =\n    if x < 10:\n        if x < 5: ret (if x == 1: \"one\" | \"small\")\n        ret \"mid\"\n"
               "    \"big\"\n")


def test_a_compared_local_is_known_a_number_in_the_branches() -> None:
    vm = FastVM(image_of(NUMBER_TREE + "prn(f(1))\n"), out=io.StringIO())
    vm.run_main()
    source = "\n".join(vm.sources.values())
    assert ("if (l0 < 10 if (l0.__class__ is int or l0.__class__ is float) else compare('<', l0, 10)):"
            in source)
    assert "if l0 < 5:" in source and "l0 == 1" in source


def test_known_numbers_keep_every_engines_results() -> None:
    calls = ("prn(f(1), f(2), f(4.5), f(7), f(1.0), f(12), f(-3))\n"
             "prn(try(\\() f(\"a\")).err)\nprn(try(\\() f(tru)).err)\n")
    status, out, _ = both(NUMBER_TREE + calls)
    assert status == 0
    assert out == "one small small mid one big small\ncannot compare str and num\ncannot compare bl and num\n"
