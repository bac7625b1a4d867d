"""The tracing JIT (stage0/jit, lib/backend/jit.ilu) is invisible except for speed.

* Every spec program gives its annotated result with the JIT at threshold 1
  on the reference interpreter and the fast tier (loops are traced at their
  first back edge, so every traceable loop runs native code).
* The edge-value matrix: every traced operation on operand pairs from the
  edge values, computed inside a hot loop, prints what it prints without
  the JIT: the kind, the sign of zero and every digit.
* Exit transparency: forcing exit k of every trace, for each k in turn,
  changes no result of the JIT spec programs (tests/spec/jit).
* The deopt scenarios of tests/spec/jit leave by the exits they should
  (the statistics say so), the knobs and `jit.stats()` work, a bad
  ILUSM_JIT_THRESHOLD is a usage error, Ctrl-C stops a native `whl tru`
  loop with exit 130, and a program whose loops stay cold never imports
  llvmlite.
"""
from __future__ import annotations

import functools
import io
import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Optional

import pytest
from spec_runner import expectations, spec_files, verdict

from stage0.cli.commands import run_file
from stage0.errors import RuntimeErr
from stage0.fast.vm import FastVM
from stage0.host import all_builtins
from stage0.host.mch import native_name
from stage0.interp.vm import VM
from stage0.jit.record import PURE_BUILTINS
from stage0.jit.runtime import SHORT_ENTRIES, Jit
from stage0.paths import ROOT
from stage0.seedc.driver import compile_file
from stage0.toolchain.selfvm import SelfHostedVM

pytestmark = pytest.mark.skipif(native_name() != "x86-64", reason="traces run natively on x86-64 only")

SPEC = spec_files(ROOT / "tests" / "spec", ROOT.parent / "shared" / "conformance")
JIT_SPEC = spec_files(ROOT / "tests" / "spec" / "jit")
ENGINES = {"ref": VM, "fast": FastVM}


def run_spec(path: Path, engine: str) -> tuple[int, str, str]:
    """Run a program from its folder as `ilusm run --engine engine` does; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(path.parent)
    try:
        status = run_file(path.name, [], out, err, compiler="seed", engine=engine)
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("engine", [*ENGINES, "vm", "fast-generic"])
def test_the_spec_suite_at_threshold_1(engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-hosted VM runs the JIT's own programs and the shared conformance sample here: the
    whole suite on it takes three minutes, so it runs with ILUSM_FULL=1 (`make fuzz`). On
    fast-generic every trace is generic (ILUSM_JIT_TYPE_SPEC=off)."""
    monkeypatch.setenv("ILUSM_JIT_THRESHOLD", "1")
    if engine == "fast-generic":
        monkeypatch.setenv("ILUSM_JIT_TYPE_SPEC", "off")
        engine = "fast"
    bad = []
    few = engine == "vm" and not os.environ.get("ILUSM_FULL")
    for path in SPEC if not few else JIT_SPEC + spec_files(ROOT.parent / "shared" / "conformance"):
        why = verdict(path, expectations(path), *run_spec(path, engine))
        if why:
            bad.append(f"{path}: {why}")
    assert not bad, "\n".join(bad[:5])


def run_with(engine: str, source: str, jit: Optional[Jit]) -> tuple[str, str]:
    """Run program text on an engine with a JIT (or none); (stdout, error message)."""
    image = compile_file(ROOT / "matrix.ilu", source=source)
    out = io.StringIO()
    try:
        ENGINES[engine](image, out=out, jit=jit).run_main()
    except RuntimeErr as e:
        return out.getvalue(), e.message
    return out.getvalue(), ""


# ---- the edge-value matrix ------------------------------------------------------------

# The edge values by kind: a trace specialises on kinds, so each kind pair gets a function of its
# own, whose one trace then meets every value of those kinds.
EDGES = {"int": ["0", "1", "-1", "9223372036854775807", "-9223372036854775808", "9007199254740992",
                 "-9007199254740992", "9007199254740993", "7", "-7"],
         "flt": ["0.0", "-0.0", "1e308 * 10.0 - 1e308 * 10.0", "1e308 * 10.0", "-1e308 * 10.0", "1e308", "5e-324",
                 "0.5", "-2.5", "9007199254740992.0"],
         "bool": ["tru", "fls"], "nil": ["nil"]}
BINARY = ["+", "-", "*", "/", "%", "<", ">", "<=", ">=", "==", "!="]
UNARY = ["-", "not "]
# The pure numeric builtins a trace computes itself (stage0/jit/record.py PURE_BUILTINS), by
# how many numbers they take.
BUILTINS = sorted(n for n in PURE_BUILTINS if all_builtins()[n].arity == 1)
BUILTINS2 = sorted(n for n in PURE_BUILTINS if all_builtins()[n].arity == 2)


def matrix_program(ops: list[str]) -> str:
    """Each op on each pair of edge values, three times in a loop; prints kind and value, or the error."""
    lines = ["show(r) = if typ(r) == \"num\" and __num_isflt(r): \"f\" + str(r) | typ(r) + \" \" + str(r)"]
    for k, op in enumerate(ops):
        for a, b in itertools.product(EDGES, repeat=2):
            body = (f"{op}x" if op in UNARY else f"{op}(x)" if op in BUILTINS else f"{op}(x, y)" if op in BUILTINS2
                    else f"x {op} y")
            lines.append(f"op{k}_{a}_{b}(x, y) =\n    r = nil\n    i <- 1..3: r = {body}\n    r")
            lines.append(f"x <- [{', '.join(EDGES[a])}]:\n    y <- [{', '.join(EDGES[b])}]:\n"
                         f"        t = try(\\() op{k}_{a}_{b}(x, y))\n        prn (if t.err: t.err | show(t.val))")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("ops", [BINARY[:5], BINARY[5:], UNARY, BUILTINS, BUILTINS2],
                         ids=["arith", "compare", "unary", "builtins", "builtins2"])
def test_edge_value_matrix(engine: str, ops: list[str]) -> None:
    source = matrix_program(ops)
    want = run_with("ref", source, None)
    jit = Jit({"threshold": 1, "deopt_limit": 1000}, short_ops=0)  # every pair runs in its trace
    got = run_with(engine, source, jit)
    assert got == want
    # every op traced on every kind pair it accepts: numbers with numbers, and == != on all (the
    # bitwise builtins take two ints only)
    assert jit.stats["traces"] >= len(ops) * (1 if ops is BUILTINS2 else 4), jit.stats


def generic_matrix_program(ops: list[str]) -> str:
    """Each op in one function, called with every pair of edge values of every kind: a generic
    trace meets them all."""
    values = ", ".join(v for vs in EDGES.values() for v in vs)
    lines = ["use jit", "jit.enable_type_spec(fls)",
             "show(r) = if typ(r) == \"num\" and __num_isflt(r): \"f\" + str(r) | typ(r) + \" \" + str(r)"]
    for k, op in enumerate(ops):
        body = f"{op}x" if op in UNARY else f"x {op} y"
        lines.append(f"op{k}(x, y) =\n    r = nil\n    i <- 1..3: r = {body}\n    r")
        lines.append(f"x <- [{values}]:\n    y <- [{values}]:\n"
                     f"        t = try(\\() op{k}(x, y))\n        prn (if t.err: t.err | show(t.val))")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("ops", [BINARY[:5], BINARY[5:], UNARY], ids=["arith", "compare", "unary"])
def test_edge_value_matrix_of_generic_traces(engine: str, ops: list[str]) -> None:
    """With type specialisation off, one trace per op meets operands of every kind, and gives the
    reference's kind, sign of zero, digits and errors for each."""
    source = generic_matrix_program(ops)
    want = run_with("ref", source, None)
    jit = Jit({"threshold": 1, "deopt_limit": 100_000}, short_ops=0)
    got = run_with(engine, source, jit)
    assert got == want
    assert jit.stats["traces"] == len(ops) and jit.stats["entries"] >= len(ops) * 300, jit.stats
    assert not any("unstable" in reason for reason in jit.stats["aborts"]), jit.stats


@pytest.mark.parametrize("ops", [BINARY[:5], BINARY[5:]], ids=["arith", "compare"])
def test_edge_value_matrix_on_the_fast_tier_alone(ops: list[str]) -> None:
    """The fast tier's own inline paths (ints with ints, floats with floats) give the reference's
    results and errors too."""
    source = matrix_program(ops)
    assert run_with("fast", source, None) == run_with("ref", source, None)


def test_floats_run_inline_on_the_fast_tier() -> None:
    vm = FastVM(compile_file(ROOT / "f.ilu", source="f(x, y) = [x * y, x / y, x < y]\nprn f(1.5, 2.0)\n"),
                out=io.StringIO())
    vm.run_main()
    source = "\n".join(vm.sources.values())
    assert "l0 * l1 if l0.__class__ is float and l1.__class__ is float" in source
    assert "l0 / l1 if l0.__class__ is float and l1.__class__ is float and l1 else arith('/', l0, l1)" in source


# ---- exits --------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def compiled(path: Path) -> Any:
    """A spec file's image, compiled once (a JIT program that does `use jit` compiles the trace
    compiler's modules with it, and the exit-forcing tests run it a hundred times)."""
    return compile_file(path)


def run_file_with(path: Path, engine: str, jit: Optional[Jit]) -> tuple[str, str]:
    """A spec file on an engine (or the self-hosted VM, "vm") with a JIT (or none); (stdout,
    error message)."""
    out = io.StringIO()
    try:
        {**ENGINES, "vm": SelfHostedVM}[engine](compiled(path), out=out, jit=jit).run_main()
    except RuntimeErr as e:
        return out.getvalue(), e.message
    return out.getvalue(), ""


@pytest.mark.parametrize("path", JIT_SPEC, ids=lambda p: p.name)
def test_forcing_any_exit_changes_nothing(path: Path) -> None:
    want = run_file_with(path, "ref", None)
    most = 0
    for k in itertools.count():
        jit = Jit({"threshold": 1}, force_exit=k, short_ops=0)
        assert run_file_with(path, "fast", jit) == want, f"forcing exit {k}"
        most = max([len(desc["exits"]) for desc in jit.compiled] + [most])
        if k >= most:
            break
    assert most > 0


@pytest.mark.parametrize("name", ["calls.ilu", "kinds.ilu", "lists.ilu", "branches.ilu", "nested_loops.ilu",
                                  "generic.ilu", "breaks.ilu"])
def test_the_self_hosted_vm_runs_the_same_traces(name: str) -> None:
    """ilusm_vm.ilu's loops reach the JIT through __jit_enter: the same traces as the fast
    tier's, inlined calls of its own functions included, and forcing exits changes nothing."""
    path = ROOT / "tests" / "spec" / "jit" / name
    want = run_file_with(path, "ref", None)
    on_vm, on_fast = Jit({"threshold": 1}), Jit({"threshold": 1})
    assert run_file_with(path, "vm", on_vm) == want == run_file_with(path, "fast", on_fast)
    assert on_vm.stats["traces"] == on_fast.stats["traces"] >= 4, (on_vm.stats, on_fast.stats)
    assert on_vm.stats["side_paths"] == on_fast.stats["side_paths"]
    for k in range(3):
        assert run_file_with(path, "vm", Jit({"threshold": 1}, force_exit=k)) == want, f"forcing exit {k}"


BAD_PROTO = ("r = __jit_enter({code: [[0, 5, 0, 16]], nlocals: 1, name: \"x\", arity: 0, pad: [nil]}, 0, 0, [1], "
             "{}, 5)\nprn r\n")


@pytest.mark.parametrize("engine", ["vm", "fast"])
def test_jit_enter_refuses_what_the_self_hosted_vm_did_not_make(engine: str, tmp_path: Path) -> None:
    """Any program may call __jit_enter: a made-up function is an error (its slot 5 would be
    outside the trace's slot array), and without a guest JIT it does nothing."""
    path = tmp_path / "bad.ilu"
    path.write_text(BAD_PROTO)
    out, message = run_file_with(path, engine, Jit({"threshold": 1}))
    if engine == "vm":
        assert message == "__jit_enter expects a function of the self-hosted VM" and out == ""
    else:
        assert (out, message) == ("nil\n", "")


GUEST_FN = ('f = __vm_fn("f", 1, {proto: {code: [[0, 0, 0, 16], [0, 0, 0, 34]], nlocals: 1, name: "f", arity: 1, '
            'pad: []}, upvals: [], module: {globals: {}}})\ng() =\n    s = 0\n'
            '    i <- 1..50: s += if i > 1: f(i) | 0\n    s\nprn try(g).err\n')


@pytest.mark.parametrize("engine", list(ENGINES))
def test_a_host_trace_does_not_inline_a_self_hosted_vm_function(engine: str) -> None:
    """A host engine cannot call a self-hosted VM's function (a value __vm_fn makes): its trace
    must not run that function's code natively instead."""
    assert run_with(engine, GUEST_FN, Jit({"threshold": 1})) == ("cannot call fn\n", "")


def jit_stats(path: Path) -> dict[str, Any]:
    """The statistics of running a JIT spec program at threshold 1 on the fast tier."""
    jit = Jit({"threshold": 1})
    run_file_with(path, "fast", jit)
    return jit.stats


def test_deopt_scenarios_leave_by_their_exits() -> None:
    spec = ROOT / "tests" / "spec" / "jit"
    overflow, kinds, division = (jit_stats(spec / n) for n in ("overflow.ilu", "kinds.ilu", "division.ilu"))
    assert overflow["exits"]["guard"] >= 1 and overflow["traces"] >= 1
    assert kinds["exits"]["side"] >= 1 and kinds["exits"]["guard"] >= 1 and kinds["dropped"] >= 1
    assert division["exits"]["guard"] == 1  # the zero divisor: the interpreter raises there
    assert jit_stats(spec / "int_loops.ilu")["exits"]["loop"] >= 4


def test_generic_traces_keep_loops_whose_kinds_change() -> None:
    """generic.ilu's loops change their locals' kinds: with type specialisation on they are refused
    as type-unstable; generic.ilu turns it off, and they run in traces."""
    path = ROOT / "tests" / "spec" / "jit" / "generic.ilu"
    generic = jit_stats(path)
    assert generic["traces"] >= 8 and generic["side_paths"] >= 5, generic
    assert not any("unstable" in reason for reason in generic["aborts"]), generic
    source = path.read_text().replace("jit.enable_type_spec(fls)", "jit.enable_type_spec(tru)")
    jit = Jit({"threshold": 1}, short_ops=0)
    assert run_with("fast", source, jit) == run_with("ref", source, None)
    assert sum(n for reason, n in jit.stats["aborts"].items() if "unstable" in reason) >= 4, jit.stats


def test_list_reads_run_in_traces() -> None:
    st = jit_stats(ROOT / "tests" / "spec" / "jit" / "lists.ilu")
    assert st["traces"] >= 5 and st["exits"]["guard"] >= 3, st  # the float, the big int, the index


def test_list_writes_run_in_traces() -> None:
    st = jit_stats(ROOT / "tests" / "spec" / "jit" / "list_writes.ilu")
    assert st["traces"] >= 5 and st["exits"]["guard"] >= 1, st  # the overflow, at least
    assert st["aborts"].get("a list write of a value that is not a number"), st


def test_list_writes_keep_reference_counts() -> None:
    """A native write gives the list a new object and takes its reference from the old one: the
    old elements lose exactly one reference each, the new ones have only the list's."""
    image = compile_file(ROOT / "w.ilu", source="put(xs, v) =\n    i <- 0..len(xs) - 1: xs[i] = v + i\n    xs\n")
    jit = Jit({"threshold": 1})
    vm = FastVM(image, out=io.StringIO(), jit=jit)
    put = vm.run_main()["put"]
    olds = [1000.5 + i for i in range(50)]  # objects of their own, also held here
    xs = list(olds)
    before = [sys.getrefcount(o) for o in olds]
    vm.call(put, [xs, 100_000])
    assert jit.stats["traces"] >= 1, jit.stats
    assert [sys.getrefcount(o) for o in olds] == [b - 1 for b in before]
    assert xs == [100_000 + i for i in range(50)]
    made_here = [int(str(100_000 + i)) for i in range(50)]  # the same numbers, made by Python
    assert {sys.getrefcount(x) for x in xs} == {sys.getrefcount(x) for x in made_here}


def test_calls_are_inlined() -> None:
    st = jit_stats(ROOT / "tests" / "spec" / "jit" / "calls.ilu")
    assert st["traces"] >= 7 and not st["aborts"], st
    assert st["exits"]["guard"] >= 2 and st["side_paths"] >= 1, st  # exits inside called functions
    assert st["dropped"] >= 1, st  # the global rebound: the entry guard failed until the trace went


# An error inside an inlined function, and a stack overflow that an inlined call must still meet
# (the loop gets hot one frame short of the limit: its trace must not run the call natively).
CALL_ERRORS = {"division": "ratio(x) = 100 / inner(x)\ninner(x) = x - 3\nsums(n) =\n    s = 0\n"
                           "    i <- 0..n: s += ratio(i)\n    s\nprn sums(6)\n",
               "depth": "sq(x) = x * x\nprobe(d) =\n    s = 0\n    i <- 1..3: s += if i > 1: sq(i) | 0\n"
                        "    s + probe(d + 1)\nprn probe(0)\n"}


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("name", list(CALL_ERRORS))
def test_inlined_calls_keep_errors_and_traces(engine: str, name: str, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"{name}.ilu"
    path.write_text(CALL_ERRORS[name])
    monkeypatch.setenv("ILUSM_JIT", "off")
    want = run_spec(path, engine)
    monkeypatch.setenv("ILUSM_JIT", "on")
    monkeypatch.setenv("ILUSM_JIT_THRESHOLD", "1")
    assert run_spec(path, engine) == want
    assert want[0] == 70 and "\n  at " in want[2]


def test_lists_of_lists_keep_reference_counts() -> None:
    """Rows read from a list and left in locals at exits are the list's own objects: no row
    gains or loses a reference, whatever exit the trace leaves by."""
    source = "rows(m) =\n    s = 0.0\n    i <- 0..len(m) - 1:\n        r = m[i]\n        s += r[0]\n    s\n"
    image = compile_file(ROOT / "r.ilu", source=source)
    m = [[float(i)] for i in range(40)] + [[1]] + [[float(i)] for i in range(40)]  # an int row: a guard exit
    before = [sys.getrefcount(r) for r in m]
    for k in (-1, 0, 1, 2, 3):
        jit = Jit({"threshold": 1}, force_exit=k if k >= 0 else None)
        vm = FastVM(image, out=io.StringIO(), jit=jit)
        assert vm.call(vm.run_main()["rows"], [m]) == 1 + 2 * sum(range(40))
        assert jit.stats["traces"] >= 1, jit.stats
        del vm, jit
        assert [sys.getrefcount(r) for r in m] == before, f"forcing exit {k}"


def test_a_running_frame_enters_its_trace_at_every_back_edge() -> None:
    """A function called once keeps running the code it had before its loop got a trace; it
    must still enter the trace at each back edge, not once per threshold of them. (The outer
    loop calls a host builtin, so only the inner loop has a trace.)"""
    source = "work(n) =\n    t = 0\n    out = []\n    k <- 1..n:\n        j = 0\n        whl j < 3:\n" \
             "            t += j\n            j += 1\n        push(out, j)\n    t\nprn work(3000)\n"
    jit = Jit({"threshold": 50}, short_ops=0)  # a short loop: kept in its trace here all the same
    assert run_with("fast", source, jit) == ("9000\n", "")
    assert jit.stats["entries"] >= 2500, jit.stats  # the inner loop, entered once an outer iteration


def test_inner_loops_are_part_of_their_outer_loops_trace() -> None:
    jit = Jit({"threshold": 1})
    want = run_file_with(ROOT / "tests" / "spec" / "jit" / "nested_loops.ilu", "ref", None)
    assert run_file_with(ROOT / "tests" / "spec" / "jit" / "nested_loops.ilu", "fast", jit) == want
    nested = [t for t in jit.traces.values() if any(o[1] == "LOOP" for o in t.rec["ops"])]
    assert len(nested) >= 6, jit.stats
    assert any(sum(o[1] == "LOOP" for o in t.rec["ops"]) >= 2 for t in nested)  # cube: three deep
    assert "inner loop" not in jit.stats["aborts"], jit.stats


def test_loops_left_by_ret_and_brk_have_traces() -> None:
    """breaks.ilu: a `whl tru` left only by `ret` holding one left by `brk`, `xs[i] -= 1`, and
    inner loops that end by the list writes they make are all traced, the inner loops inside
    their outer loops' traces, each outer loop entered once."""
    jit = Jit({"threshold": 1}, short_ops=0)
    path = ROOT / "tests" / "spec" / "jit" / "breaks.ilu"
    assert run_file_with(path, "fast", jit) == run_file_with(path, "ref", None)
    traces = {(key[0].name, t.desc["nested"]): t.entries for key, t in jit.traces.items()}
    assert traces.keys() >= {("countdown", True), ("wear", False), ("drain", True), ("flips", True)}, traces
    assert traces[("countdown", True)] == traces[("drain", True)] == 1, traces


def test_a_long_inner_loop_leaves_by_its_own_budget() -> None:
    """The recorded iteration's inner loop is short; a later one runs past 2^20 iterations inside
    the native outer loop, which leaves at the inner loop's header so the host gets control."""
    source = ("long(k) =\n    t = 0\n    i <- 1..3:\n        m = if i == 3: k | 10\n        j <- 1..m: t += 1\n"
              "    t\nprn long(1100000)\n")
    jit = Jit({"threshold": 1})
    assert run_with("fast", source, jit) == ("1100020\n", "")
    assert jit.stats["exits"]["loop"] >= 2 and jit.stats["traces"] >= 1, jit.stats


def test_a_loop_too_short_for_its_trace_goes_back_to_the_engine() -> None:
    """Entering and leaving a trace costs more than a few iterations of a small loop: after
    SHORT_ENTRIES entries that averaged too few ops, the loop is blacklisted and runs on the
    fast tier from then on, even when a later call makes it long."""
    source = ("short(n) =\n    t = 0\n    i <- 1..n: t += i\n    t\nlong(n) = short(n)\n"
              "s = 0\nk <- 1..200: s += short(3)\nprn s\nprn long(5000)\n")
    jit = Jit({"threshold": 1})
    assert run_with("fast", source, jit) == ("1200\n12502500\n", "")
    assert jit.stats["aborts"].get("too few iterations per entry") == 1, jit.stats
    assert jit.stats["entries"] == SHORT_ENTRIES, jit.stats  # long(5000) runs on the fast tier too


def test_branches_both_ways_become_side_paths() -> None:
    st = jit_stats(ROOT / "tests" / "spec" / "jit" / "branches.ilu")
    assert st["side_paths"] >= 5 and st["exits"]["side"] <= 2 * st["side_paths"] + 4, st
    assert st["dropped"] == 0 and not st["aborts"], st


def test_a_long_loop_takes_budget_exits_and_is_recompiled() -> None:
    src = "f(n) =\n    s = 0\n    i <- 1..n: s += i % 3\n    s\nt = 0\nk <- 1..70: t += f(1000)\nprn t, f(3000000)\n"
    jit = Jit({"threshold": 1})
    assert run_with("fast", src, jit) == ("70000 3000000\n", "")
    assert jit.stats["exits"]["budget"] >= 2 and jit.stats["recompiled"] == 1, jit.stats


# ---- the surface --------------------------------------------------------------------------

KNOBS = '''use jit
jit.set_threshold(3)
jit.set_deopt_limit(2)
jit.set_max_trace(50)
f(n) =
    s = 0
    i <- 1..n: s += i
    s
prn f(100)
st = jit.stats()
prn st.on, st.traces, st.settings.threshold, st.settings.deopt_limit, st.settings.max_trace
r = try(\\() jit.set_threshold(0))
prn r.err
jit.enable_type_spec(fls)
g(n) =
    s = 0
    i <- 1..n: s += i
    s
prn g(10)
prn jit.stats().traces, jit.stats().settings.type_spec, jit.stats().aborts
'''


def test_knobs_and_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "knobs.ilu"
    path.write_text(KNOBS)
    monkeypatch.delenv("ILUSM_JIT", raising=False)
    status, out, err = run_spec(path, "fast")
    assert (status, err) == (0, "")
    assert out.splitlines() == [
        "5050", "tru 1 3 2 50", "jit setting threshold expects a whole number of at least 1", "55", "2 fls {}"]
    monkeypatch.setenv("ILUSM_JIT", "off")
    status, out, err = run_spec(path, "fast")
    assert out.splitlines()[:2] == ["5050", "fls 0 1000 10 4096"]


def ilusm(*args: str, env: Optional[dict[str, str]] = None) -> subprocess.CompletedProcess[str]:
    """Run the ilusm command in a fresh process."""
    return subprocess.run([sys.executable, "-m", "stage0", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, **(env or {})), timeout=120)


@pytest.mark.parametrize("name, value", [("ILUSM_JIT_THRESHOLD", "soon"), ("ILUSM_JIT_TYPE_SPEC", "maybe")])
def test_a_bad_setting_is_a_usage_error(name: str, value: str) -> None:
    p = ilusm("-e", "prn 1", env={name: value})
    assert p.returncode == 2 and name in p.stderr and "Traceback" not in p.stderr


def test_type_spec_off_from_the_environment() -> None:
    p = ilusm("-e", "use jit\nprn jit.stats().settings.type_spec", env={"ILUSM_JIT_TYPE_SPEC": "off"})
    assert (p.returncode, p.stdout) == (0, "fls\n")


def test_cold_loops_never_import_llvmlite(tmp_path: Path) -> None:
    prog = tmp_path / "cold.ilu"
    prog.write_text("f(n) =\n    s = 0\n    i <- 1..n: s += i\n    s\nprn f(50)\n")
    code = ("import sys; from stage0.cli.commands import run_file; "
            f"run_file({str(prog)!r}, [], sys.stdout, sys.stderr, compiler='seed'); "
            "print('llvmlite' in sys.modules)")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.stdout.split() == ["1275", "False"], p.stderr


def test_ctrl_c_stops_a_native_loop(tmp_path: Path) -> None:
    path = tmp_path / "spin.ilu"
    path.write_text('spin() =\n    i = 0\n    whl tru: i += 1\nprn "started"\nspin()\n')
    p = subprocess.Popen([sys.executable, "-m", "stage0", "run", str(path)], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, ILUSM_JIT_THRESHOLD="1"),
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert p.stdout is not None
    p.stdout.readline()
    time.sleep(2.0)  # long enough for the trace to compile and run
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert (p.returncode, err) == (130, "error: interrupted\n")


def many_loops(n: int) -> str:
    """A program with n functions, each with a loop of its own, each called once."""
    defs = "".join(f"f{k}(n) =\n    s = 0\n    i <- 1..n: s += i * {k + 1}\n    s\n" for k in range(n))
    calls = "t = 0\n" + "".join(f"t += f{k}(3)\n" for k in range(n)) + "prn t\n"
    return defs + calls


def test_traces_per_process_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from stage0.jit import runtime

    monkeypatch.setattr(runtime, "MAX_TRACES", 20)
    jit = Jit({"threshold": 1})
    out, err = run_with("fast", many_loops(30), jit)
    assert (out, err) == (f"{sum(6 * (k + 1) for k in range(30))}\n", "")
    assert jit.stats["traces"] == 20 and jit.stats["aborts"]["the process has compiled its most traces"] == 10


@pytest.mark.skipif(os.environ.get("ILUSM_SOAK") != "1", reason="a soak run: make fuzz")
def test_memory_stays_bounded_over_10000_loops() -> None:
    """10,000 distinct hot loops: 2,000 become traces (MCJIT never frees code), the rest are
    refused; the process's peak memory grows by less than 600 MB."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    jit = Jit({"threshold": 1})
    out, err = run_with("fast", many_loops(10_000), jit)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert err == "" and jit.stats["traces"] == 2000, jit.stats
    assert grown_mb < 600, grown_mb


# ---- generated loops ------------------------------------------------------------------------

def _loop_programs() -> Any:
    """Functions whose loops hold random arithmetic and branches over int, float and bool locals."""
    from hypothesis import strategies as st

    lit = st.one_of(st.integers(-3, 9).map(str), st.sampled_from(["0.5", "-2.25", "1e18", "3000000000000000000",
                                                                   "tru", "fls", "nil", "0.0", "-0.0"]))
    leaf = st.one_of(st.sampled_from(["x", "y", "i", "acc"]), lit)
    expr = st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "%"]), inner).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
        inner.map(lambda e: f"(-{e})")), max_leaves=4)
    cond = st.tuples(expr, st.sampled_from(["<", ">", "<=", ">=", "==", "!="]), expr).map(
        lambda t: f"{t[0]} {t[1]} {t[2]}")
    stmt = st.one_of(
        expr.map(lambda e: f"acc = acc + {e}"),
        st.tuples(cond, expr, expr).map(lambda t: f"if {t[0]}: x = {t[1]}\n        | y = {t[2]}"),
        expr.map(lambda e: f"x = {e}"),
        cond.map(lambda c: f"if {c}: brk"),
        cond.map(lambda c: f"if {c}: tag = tag + \"a\""))  # a way no trace can hold
    body = st.lists(stmt, min_size=1, max_size=4).map(lambda ss: "\n".join("        " + s for s in ss))
    start = st.tuples(lit, lit, st.integers(0, 40))
    return st.tuples(body, start).map(lambda t: (
        f"f(n) =\n    x = {t[1][0]}\n    y = {t[1][1]}\n    acc = 0\n    tag = \"\"\n    i <- 1..n:\n{t[0]}\n"
        f"    [acc, x, y, tag]\n"
        f"r = try(\\() f({t[1][2]}))\nprn r.val, r.err\nr = try(\\() f({t[1][2]}))\nprn r.val, r.err\n"))


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize("type_spec", [True, False], ids=["specialised", "generic"])
def test_generated_loops_at_threshold_1(engine: str, type_spec: bool) -> None:
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=int(os.environ.get("ILUSM_FUZZ_EXAMPLES", "60")), deadline=None, derandomize=True,
              database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_loop_programs())
    def check(src: str) -> None:
        jit = Jit({"threshold": 1, "type_spec": type_spec})
        assert run_with(engine, src, jit) == run_with("ref", src, None), src

    check()
