"""The verifier's slot-kind rules (stage0/image/verify.py, docs/ilbc.md "Verifier").

(a) Hand-built images that passed the old verifier and then ended in a Python
exception on both engines (or leaked an iterator or cell to the program as
`<?>`) are refused with a one-line ImageError naming function and offset.
(b) The shapes the compilers emit are accepted.
(c) Random verifier-valid code (a generator that respects stack depth and
slot kinds, with loops bounded so every program ends) runs on the reference
interpreter and on the fast tier to the same outcome: a result or an ilusm
runtime error, never a Python exception, and never a host object printed.
"""
from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ilbc import assemble

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.image.model import UPVAL_FROM_CELL, UPVAL_FROM_UPVAL, FuncDef, Image, ModuleEntry
from stage0.image.verify import validate
from stage0.seedc.driver import compile_file
from stage0.toolchain.engines import execute

EXAMPLES = int(os.environ.get("ILUSM_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["main", "main.ilu", "prn", "f", "x", "lib"]
PRN, F, X = 2, 3, 4
CONSTS: list[Any] = [0, 1, 2, 3, -1, 10, 2.5, "ab", "", "x"]
SMALL_INTS = [0, 1, 2, 3]  # constant indices of 0..3: range bounds, so loops stay short


def image_of(main: list[tuple[Any, ...]], nlocals: int = 0, arity: int = 0,
             others: tuple[FuncDef, ...] = ()) -> Image:
    """A one-module image whose main runs `main`; `others` are functions #1.. (closures)."""
    funcs = [FuncDef(0, arity, nlocals, [], assemble(main), [])] + list(others)
    return Image(list(CONSTS), list(NAMES), funcs, [ModuleEntry(0, 1, 0)], 0)


def refusal(image: Image) -> str:
    """The verifier's message for an image it must refuse."""
    with pytest.raises(ImageError) as e:
        validate(image)
    return str(e.value)


LOOP_END = [("label", "e"), ("PUSH_NIL",), ("RET",)]
PRINT = ("SYSCALL", PRN, 1)  # shows a leaked host object: `<?>`

# (name, main code, nlocals, other functions, expected message). Without the
# check, each ends in a Python exception (`internal error`) on both engines
# or prints `<?>`, except store_local_over_cell and iter_over_cell: those
# follow the rule that a cell lives as long as its variable, as the compilers
# emit (see the table in docs/ilbc.md).
BAD: list[tuple[str, list[tuple[Any, ...]], int, tuple[FuncDef, ...], str]] = [
    ("for_next_on_value", [("PUSH_NIL",), ("STORE_LOCAL", 0), ("label", "t"), ("FOR_NEXT", 0, "e"), ("POP",),
                           ("JUMP", "t")] + LOOP_END, 1, (),
     'function #0 "main": FOR_NEXT at offset 4: local slot 0 may hold a value, not an iterator'),
    ("for_next_on_unset", [("label", "t"), ("FOR_NEXT", 0, "e"), ("POP",), ("JUMP", "t")] + LOOP_END, 1, (),
     'function #0 "main": FOR_NEXT at offset 0: local slot 0 may hold a value, not an iterator'),
    ("load_cell_on_value", [("LOAD_CELL", 0), ("RET",)], 1, (),
     'function #0 "main": LOAD_CELL at offset 0: local slot 0 may hold a value, not a cell'),
    ("store_cell_on_value", [("PUSH_NIL",), ("STORE_CELL", 0), ("PUSH_NIL",), ("RET",)], 1, (),
     'function #0 "main": STORE_CELL at offset 1: local slot 0 may hold a value, not a cell'),
    ("store_cell_on_iterator", [("PUSH_CONST", 7), ("ITER", 0), ("PUSH_NIL",), ("STORE_CELL", 0), ("PUSH_NIL",),
                                ("RET",)], 1, (),
     'function #0 "main": STORE_CELL at offset 7: local slot 0 may hold an iterator, not a cell'),
    ("capture_of_a_non_cell", [("MAKE_CLOSURE", 1), ("CALL", 0), ("RET",)], 1,
     (FuncDef(3, 0, 0, [(UPVAL_FROM_CELL, 0)], assemble([("LOAD_UPVAL", 0), ("RET",)]), []),),
     'function #0 "main": MAKE_CLOSURE at offset 0: local slot 0 may hold a value, not a cell'),
    ("import_all_of_nil", [("PUSH_NIL",), ("IMPORT_ALL",), ("PUSH_NIL",), ("RET",)], 0, (),
     'function #0 "main": IMPORT_ALL at offset 1 does not directly follow a USE'),
    ("import_all_first", [("IMPORT_ALL",), ("PUSH_NIL",), ("RET",)], 0, (),
     'function #0 "main": IMPORT_ALL at offset 0 does not directly follow a USE'),
    # USE comes right before, but a jump also reaches the IMPORT_ALL, with nil on the stack.
    ("import_all_jumped_to", [("PUSH_TRU",), ("JUMP_IF", "a"), ("USE", 0), ("label", "x"), ("IMPORT_ALL",),
                              ("PUSH_NIL",), ("RET",), ("label", "a"), ("PUSH_NIL",), ("JUMP", "x")], 0, (),
     'function #0 "main": IMPORT_ALL at offset 7 does not directly follow a USE'),
    ("iter_then_for_next2", [("PUSH_CONST", 7), ("ITER", 0), ("label", "t"), ("FOR_NEXT2", 0, "e"), ("POP",),
                             ("POP",), ("JUMP", "t")] + LOOP_END, 1, (),
     'function #0 "main": FOR_NEXT2 at offset 6: local slot 0 may hold an iterator, not a pair iterator'),
    ("iter2_then_for_next", [("PUSH_CONST", 7), ("ITER2", 0), ("label", "t"), ("FOR_NEXT", 0, "e"), PRINT,
                             ("JUMP", "t")] + LOOP_END, 1, (),
     'function #0 "main": FOR_NEXT at offset 6: local slot 0 may hold a pair iterator, not an iterator'),
    # The host objects themselves must never be pushed as values (they print as <?>).
    ("load_local_of_iterator", [("PUSH_CONST", 7), ("ITER", 0), ("LOAD_LOCAL", 0), PRINT, ("RET",)], 1, (),
     'function #0 "main": LOAD_LOCAL at offset 6: local slot 0 may hold an iterator, not a value'),
    ("load_local_of_cell", [("MAKE_CELL", 0), ("LOAD_LOCAL", 0), PRINT, ("RET",)], 1, (),
     'function #0 "main": LOAD_LOCAL at offset 3: local slot 0 may hold a cell, not a value'),
    ("cell_in_a_cell", [("MAKE_CELL", 0), ("MAKE_CELL", 0), ("LOAD_CELL", 0), PRINT, ("RET",)], 1, (),
     'function #0 "main": MAKE_CELL at offset 3: local slot 0 may hold a cell, not a value'),
    ("store_local_over_cell", [("MAKE_CELL", 0), ("PUSH_NIL",), ("STORE_LOCAL", 0), ("PUSH_NIL",), ("RET",)], 1,
     (), 'function #0 "main": STORE_LOCAL at offset 4: local slot 0 may hold a cell, which STORE_LOCAL may not '
         'overwrite'),
    ("iter_over_cell", [("MAKE_CELL", 0), ("PUSH_CONST", 7), ("ITER", 0), ("PUSH_NIL",), ("RET",)], 1, (),
     'function #0 "main": ITER at offset 6: local slot 0 may hold a cell, which ITER may not overwrite'),
    # Kinds that disagree at a join: an iterator on one path, a value on the other.
    ("conflict_at_join", [("PUSH_FLS",), ("JUMP_UNLESS", "v"), ("PUSH_CONST", 7), ("ITER", 0), ("JUMP", "t"),
                          ("label", "v"), ("PUSH_NIL",), ("STORE_LOCAL", 0), ("label", "t"), ("FOR_NEXT", 0, "e"),
                          ("POP",), ("JUMP", "t")] + LOOP_END, 1, (),
     'function #0 "main": FOR_NEXT at offset 17: local slot 0 may hold a value, not an iterator'),
    # Only the second time round the loop does MAKE_CELL find a cell: the analysis walks loops to a fixed point.
    ("make_cell_in_a_loop", [("PUSH_NIL",), ("STORE_LOCAL", 0), ("PUSH_CONST", 1), ("PUSH_CONST", 2),
                             ("ITER_RANGE", 1), ("label", "t"), ("FOR_NEXT", 1, "e"), ("POP",), ("MAKE_CELL", 0),
                             ("LOAD_CELL", 0), PRINT, ("POP",), ("JUMP", "t")] + LOOP_END, 2, (),
     'function #0 "main": MAKE_CELL at offset 19: local slot 0 may hold a cell, not a value'),
]


@pytest.mark.parametrize("code, nlocals, others, message", [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_refused(code: list[tuple[Any, ...]], nlocals: int, others: tuple[FuncDef, ...], message: str) -> None:
    assert refusal(image_of(code, nlocals, others=others)) == message


def test_refused_in_a_closure_by_name() -> None:
    """A capture checked in a nested function: slot 1 of the creating function is no cell."""
    inner = FuncDef(4, 0, 0, [(UPVAL_FROM_CELL, 1)], assemble([("PUSH_NIL",), ("RET",)]), [])
    outer = FuncDef(3, 1, 2, [], assemble([("MAKE_CELL", 0), ("MAKE_CLOSURE", 2), ("RET",)]), [])
    image = image_of([("MAKE_CLOSURE", 1), ("RET",)], others=(outer, inner))
    assert refusal(image) == 'function #1 "f": MAKE_CLOSURE at offset 3: local slot 1 may hold a value, not a cell'


GOOD: list[tuple[str, list[tuple[Any, ...]], int, tuple[FuncDef, ...]]] = [
    # A captured parameter: MAKE_CELL in the prologue wraps the argument.
    ("captured_parameter", [("MAKE_CLOSURE", 1), ("RET",)], 0,
     (FuncDef(3, 1, 1, [], assemble([("MAKE_CELL", 0), ("MAKE_CLOSURE", 2), ("RET",)]), []),
      FuncDef(4, 0, 0, [(UPVAL_FROM_CELL, 0)], assemble([("LOAD_UPVAL", 0), ("RET",)]), []))),
    # A capture passed on from the parent's own captured variable.
    ("capture_of_an_upvalue", [("MAKE_CELL", 0), ("MAKE_CLOSURE", 1), ("RET",)], 1,
     (FuncDef(3, 0, 0, [(UPVAL_FROM_CELL, 0)], assemble([("MAKE_CLOSURE", 2), ("RET",)]), []),
      FuncDef(4, 0, 0, [(UPVAL_FROM_UPVAL, 0)], assemble([("LOAD_UPVAL", 0), ("RET",)]), []))),
    # A nested loop: the inner ITER finds a value the first time, an iterator the next (a join of both).
    ("nested_loops", [("PUSH_CONST", 1), ("PUSH_CONST", 2), ("ITER_RANGE", 0), ("label", "t"),
                      ("FOR_NEXT", 0, "e"), ("STORE_LOCAL", 2), ("PUSH_CONST", 7), ("ITER2", 1), ("label", "u"),
                      ("FOR_NEXT2", 1, "t"), ("POP",), ("STORE_LOCAL", 3), ("JUMP", "u")] + LOOP_END, 4, ()),
    # An overwrite may replace an iterator: the slot then holds a value.
    ("store_over_iterator", [("PUSH_CONST", 7), ("ITER", 0), ("PUSH_NIL",), ("STORE_LOCAL", 0), ("LOAD_LOCAL", 0),
                             ("RET",)], 1, ()),
    ("use_then_import_all", [("USE", 0), ("IMPORT_ALL",), ("PUSH_NIL",), ("RET",)], 0, ()),
]


@pytest.mark.parametrize("code, nlocals, others", [case[1:] for case in GOOD], ids=[c[0] for c in GOOD])
def test_accepted(code: list[tuple[Any, ...]], nlocals: int, others: tuple[FuncDef, ...]) -> None:
    validate(image_of(code, nlocals, others=others))


def test_compiled_shapes_are_accepted() -> None:
    """What the compilers emit for captured parameters, loop variables, nested and pair loops, `use`."""
    src = ("f(a, b) =\n"
           "    g = \\() a + b\n"
           "    t = 0\n"
           "    i <- 1..3:\n"
           "        k, v <- [a, b]:\n"
           "            t = t + i + k\n"
           "            h = \\() t + v\n"
           "    g() + h()\n"
           "use \"spec/modules/lib_shapes.ilu\"\n"
           "prn f(1, 2)\n")
    image = compile_file(ROOT / "tests" / "generated.ilu", source=src)
    validate(image)
    assert run(image, "ref") == run(image, "fast") == (0, "20\n", "")


# ---- (c) random verifier-valid code on both engines -------------------------------------


def run(image: Image, engine: str) -> tuple[int, str, str]:
    """Run an image as `ilusm run` would; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()  # execute() raises it; hypothesis wants it back
    try:
        status = in_big_stack(lambda: guarded(lambda: execute(image, [], 200, out=out, engine=engine), err))
    finally:
        sys.setrecursionlimit(limit)
    return status, out.getvalue(), err.getvalue()


class Gen:
    """Code generation for one function: its slots by kind, its labels, its captures.

    Every local slot keeps one kind, as the compilers do: a value slot
    (parameters, locals), a cell (made in the prologue), or a fresh hidden
    slot per loop for the iterator. Loops run over constants 0..3 or short
    lists, and a call only calls a closure made right there of a function
    created for it (deeper, so never recursive): every program ends."""

    def __init__(self, draw: Any, funcs: list[FuncDef], level: int, arity: int, nupvals: int) -> None:
        self.draw, self.funcs, self.level, self.nupvals = draw, funcs, level, nupvals
        self.nslots, self.labels = arity, 0
        self.loops: list[tuple[str, str]] = []  # (top, end) labels of the loops around the code being made
        self.values = list(range(arity))
        self.cells: list[int] = []
        for _ in range(draw(st.integers(0, 2))):
            self.values.append(self.fresh())
        for _ in range(draw(st.integers(0, 2))):
            slot = draw(st.sampled_from(self.values)) if self.values and draw(st.booleans()) else self.fresh()
            if slot not in self.cells:
                self.cells.append(slot)
                if slot in self.values:
                    self.values.remove(slot)  # a captured parameter: a cell from the prologue on

    def fresh(self) -> int:
        """A new slot."""
        self.nslots += 1
        return self.nslots - 1

    def label(self) -> str:
        """A new label name."""
        self.labels += 1
        return f"L{self.labels}"

    def leaf(self) -> list[tuple[Any, ...]]:
        """One instruction that pushes one value."""
        # Mostly numbers, so that more programs get past their first operation.
        options: list[tuple[Any, ...]] = [("PUSH_NIL",), ("PUSH_TRU",), ("LOAD_GLOBAL", X)]
        options += [("PUSH_CONST", k) for k in range(len(CONSTS))] + [("PUSH_CONST", k) for k in SMALL_INTS] * 2
        options += [("LOAD_LOCAL", s) for s in self.values] + [("LOAD_CELL", s) for s in self.cells]
        options += [("LOAD_UPVAL", i) for i in range(self.nupvals)]
        return [self.draw(st.sampled_from(options))]

    def expr(self, depth: int) -> list[tuple[Any, ...]]:
        """Code that pushes exactly one value."""
        draw = self.draw
        kind = draw(st.sampled_from(["leaf", "bin", "un", "list", "obj", "idx", "if", "nil", "dup", "call"]))
        if depth <= 0 or kind == "leaf":
            return self.leaf()
        sub = lambda: self.expr(depth - 1)  # noqa: E731
        if kind == "bin":
            ops = ["ADD", "SUB", "MUL", "DIV", "MOD", "EQ", "NEQ", "LT", "GT", "LE", "GE"]
            return sub() + sub() + [(draw(st.sampled_from(ops)),)]
        if kind == "un":
            return sub() + [(draw(st.sampled_from(["NEG", "NOT"])),)]
        if kind == "dup":
            return sub() + [("DUP",), (draw(st.sampled_from(["ADD", "EQ", "LT"])),)]
        n = draw(st.integers(0, 3))
        if kind == "list":
            return [ins for _ in range(n) for ins in sub()] + [(draw(st.sampled_from(["MAKE_LIST", "CONCAT"])), n)]
        if kind == "obj":
            return [ins for _ in range(n) for ins in [("PUSH_CONST", draw(st.sampled_from([7, 8, 9])))] + sub()] + [
                ("MAKE_OBJ", n)]
        if kind == "idx":
            if draw(st.booleans()):
                return sub() + [("GET_FIELD", X)]
            return sub() + sub() + [("GET_IDX",)]
        if kind == "nil":
            a = self.label()
            return sub() + [("JUMP_IF_NIL", a), ("GET_FIELD", X), ("label", a)]
        if kind == "if":
            a, b = self.label(), self.label()
            return sub() + [("JUMP_UNLESS", a)] + sub() + [("JUMP", b), ("label", a)] + sub() + [("label", b)]
        return self.call(depth)

    def call(self, depth: int) -> list[tuple[Any, ...]]:
        """A closure of a new, deeper function, called at once (with a random argument count)."""
        draw = self.draw
        if self.level >= 2 or len(self.funcs) >= 5:
            return self.leaf()
        ups = [(UPVAL_FROM_CELL, s) for s in self.cells] + [(UPVAL_FROM_UPVAL, i) for i in range(self.nupvals)]
        ups = draw(st.lists(st.sampled_from(ups), max_size=3)) if ups else []
        arity = draw(st.integers(0, 2))
        index = new_function(draw, self.funcs, self.level + 1, arity, ups)
        n = draw(st.sampled_from([arity] * 4 + [0, 1, 2]))  # now and then the wrong count: an ilusm error
        return [("MAKE_CLOSURE", index)] + [ins for _ in range(n) for ins in self.expr(depth - 1)] + [("CALL", n)]

    def store(self) -> list[tuple[Any, ...]]:
        """Pop into a value slot or a cell (the loop variable's store)."""
        targets = [("STORE_LOCAL", s) for s in self.values] + [("STORE_CELL", s) for s in self.cells]
        return [self.draw(st.sampled_from(targets))] if targets else [("POP",)]

    def stmt(self, depth: int) -> list[tuple[Any, ...]]:
        """Code that leaves the stack as it found it."""
        draw = self.draw
        kinds = ["pop", "store", "global", "prn", "if", "set", "range", "for", "for2"]
        kind = draw(st.sampled_from(kinds + (["brk", "cnt"] if self.loops else [])))
        if kind in ("brk", "cnt"):  # leave or restart any enclosing loop, when a condition holds
            top, end = draw(st.sampled_from(self.loops))
            return self.expr(1) + [(draw(st.sampled_from(["JUMP_IF", "JUMP_UNLESS"])), end if kind == "brk" else top)]
        if kind == "pop":
            return self.expr(2) + [("POP",)]
        if kind == "store":
            return self.expr(2) + self.store()
        if kind == "global":
            return self.expr(2) + [("STORE_GLOBAL", X)]
        if kind == "prn":
            return self.expr(2) + [("SYSCALL", PRN, 1), ("POP",)]
        if kind == "set":
            if draw(st.booleans()):
                return self.expr(1) + self.expr(1) + [("SET_FIELD", X), ("POP",)]
            return self.expr(1) + self.expr(1) + self.expr(1) + [("SET_IDX",), ("POP",)]
        if kind == "if":
            a, b = self.label(), self.label()
            return self.expr(2) + [("JUMP_UNLESS", a)] + self.block(depth - 1) + [("JUMP", b), ("label", a)] + \
                self.block(depth - 1) + [("label", b)]
        return self.loop(kind, depth)

    def loop(self, kind: str, depth: int) -> list[tuple[Any, ...]]:
        """A loop as the compilers emit it: a fresh hidden slot, FOR_NEXT/FOR_NEXT2 at the top."""
        draw = self.draw
        if kind == "range":
            head = [("PUSH_CONST", draw(st.sampled_from(SMALL_INTS))) for _ in range(2)] + [("ITER_RANGE",)]
        else:
            head = self.expr(2) + [("ITER" if kind == "for" else "ITER2",)]
        slot, top, end = self.fresh(), self.label(), self.label()
        head[-1] = (head[-1][0], slot)
        nxt = [("FOR_NEXT2", slot, end)] + self.store() + self.store() if kind == "for2" else \
            [("FOR_NEXT", slot, end)] + self.store()
        self.loops.append((top, end))
        body = self.block(depth - 1)
        self.loops.pop()
        return head + [("label", top)] + nxt + body + [("JUMP", top), ("label", end)]

    def block(self, depth: int) -> list[tuple[Any, ...]]:
        """A few statements (none when depth runs out)."""
        if depth <= 0:
            return []
        return [ins for _ in range(self.draw(st.integers(0, 3))) for ins in self.stmt(depth)]


def new_function(draw: Any, funcs: list[FuncDef], level: int, arity: int, ups: list[tuple[int, int]]) -> int:
    """Add a function with random valid code to funcs; its index."""
    index = len(funcs)
    funcs.append(FuncDef(F if level else 0, arity, 0, ups, b"", []))
    gen = Gen(draw, funcs, level, arity, len(ups))
    body = gen.block(2)
    if level == 0:
        body += gen.expr(2) + [("SYSCALL", PRN, 1), ("RET",)]
    elif draw(st.booleans()):
        body += gen.expr(2) + [("RET",)]
    else:  # a tail call (when a closure may still be made here)
        tail = gen.call(2)
        if tail[-1][0] == "CALL":
            tail[-1] = ("CALL_TAIL", tail[-1][1])
        body += tail + [("RET",)]
    # Most locals start with a value (as a compiled `x = ...` would give them); the rest are unset.
    init = [ins for s in range(arity, gen.nslots) if s in gen.values + gen.cells and draw(st.integers(0, 4))
            for ins in [("PUSH_CONST", draw(st.integers(0, len(CONSTS) - 1))),
                        ("STORE_CELL" if s in gen.cells else "STORE_LOCAL", s)]]
    glob = [("PUSH_CONST", 1), ("STORE_GLOBAL", X)] if level == 0 and draw(st.integers(0, 4)) else []
    code = [("MAKE_CELL", s) for s in sorted(gen.cells)] + glob + init + body
    funcs[index].nlocals, funcs[index].code = gen.nslots, assemble(code)
    funcs[index].lines = [(0, level + 1)]
    return index


@st.composite
def valid_images(draw: Any) -> Image:
    """A one-module image of random code that the verifier must accept."""
    funcs: list[FuncDef] = []
    new_function(draw, funcs, 0, 0, [])
    return Image(list(CONSTS), list(NAMES), funcs, [ModuleEntry(0, 1, 0)], 0)


@FUZZ
@given(valid_images())
def test_random_valid_code_same_on_both_engines(image: Image) -> None:
    image = ilbc.read(ilbc.write(image))  # the writer and the reader both verify it
    ref, fast = run(image, "ref"), run(image, "fast")
    assert ref == fast
    status, out, err = ref
    assert status in (0, 70), err
    assert "internal error" not in err and "<?>" not in out, (out, err)


def test_random_code_reaches_both_outcomes() -> None:
    """The generator is not vacuous: its programs both finish and fail, and print."""
    seen: set[int] = set()

    @settings(FUZZ, max_examples=60)
    @given(valid_images())
    def collect(image: Image) -> None:
        status, out, _ = run(image, "ref")
        seen.add(status)
        assert status != 0 or out

    collect()
    assert seen == {0, 70}
