"""Every fact about an opcode lives in the ISA table (stage0/isa.py), and control flow is analysed once.

Three kinds of checks. No consumer keeps its own list of opcodes: the source
of stage0/, tools/ and lib/ holds no literal collection (set, tuple, list,
dict keys; in ilusm a list or object keys) of two or more opcode names
outside the table and the generated opcodes.ilu, but for the few listed in
ALLOWED, each a choice of its own module rather than a fact about the
opcodes; nor (in Python) a table of operand names or of operand kinds.
The ilusm view of the table (the generated opcodes.ilu through mcde)
gives the stack effects the Python table gives. And the verifier's
analysis (stack depth at every offset, block leaders) is what the loader
and the fast tier use, with no depth walk of their own.
"""
from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from selfhost_util import run_image
from spec_runner import spec_files

from stage0 import isa
from stage0.errors import CompileError
from stage0.fast import flow as fast_flow
from stage0.fast.flow import Flow
from stage0.image import ilbc
from stage0.image.model import FuncDef, Image
from stage0.image.verify import decode
from stage0.interp.loader import load
from stage0.seedc import driver

ROOT = Path(__file__).resolve().parent.parent
OPCODE_NAMES = frozenset(isa.BY_NAME)
# Operand names that say what an operand stands for (a table of them is a copy of
# isa.ROLES); "name" is left out, being every other record's field name too.
OPERAND_NAMES = frozenset(isa.ROLES) - {"name"}

# (file, owner) of the collections of opcode names that are not copies of the
# table's facts. owner: the function (or class) around the collection, or the
# first name a module-level statement assigns.
ALLOWED = {
    # The opcodes the reference loop handles inline, a speed choice of that loop.
    ("stage0/interp/vm.py", "LOAD_LOCAL"),
    # The opcodes the self-hosted VM runs inline, in the order of its dispatch's ranks: a speed
    # choice of that loop (its check_handlers refuses an opcode left without code).
    ("lib/backend/ilusm_vm.ilu", "INLINE"),
    # The opcodes whose translations (the op_ methods beside them) use the
    # frame's `G` or set `D`: facts about the translator's own output.
    ("stage0/fast/gen.py", "_USES_G"),
    ("stage0/fast/gen.py", "_SETS_D"),
}


# ---- no consumer keeps its own copy -------------------------------------------------

def _strings(nodes: list[ast.expr | None], words: frozenset[str]) -> int:
    """How many of nodes are string constants among words."""
    return sum(isinstance(n, ast.Constant) and n.value in words for n in nodes)


def _is_copy(items: list[ast.expr | None]) -> bool:
    """Items of a literal collection that restate the table: two or more opcode names, two or
    more operand names, or operand kinds including the jump offset's i16 (a kind table of the
    instruction set; the host's buffer widths have no i16)."""
    kinds = frozenset(isa.OPERAND_SIZES)
    return (_strings(items, OPCODE_NAMES) >= 2 or _strings(items, OPERAND_NAMES) >= 2
            or (_strings(items, kinds) >= 2 and _strings(items, frozenset({"i16"})) == 1))


def _owner(stack: list[ast.AST]) -> str:
    """The innermost function or class around a node, else the first name its statement assigns."""
    for node in reversed(stack):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return node.name
    stmt = stack[1] if len(stack) > 1 else stack[0]
    names = [n.id for t in getattr(stmt, "targets", [getattr(stmt, "target", None)]) if t is not None
             for n in ast.walk(t) if isinstance(n, ast.Name)]
    return names[0] if names else "<module>"


def python_copies(path: Path, rel: str) -> list[tuple[str, str, int]]:
    """(file, owner, line) of each literal collection in a Python file that restates the table."""
    found = []

    def visit(node: ast.AST, stack: list[ast.AST]) -> None:
        items: list[ast.expr | None] = []
        if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            items = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = list(node.keys)
        if _is_copy(items):
            found.append((rel, _owner(stack), getattr(node, "lineno", 0)))
        for child in ast.iter_child_nodes(node):
            visit(child, stack + [child])

    tree = ast.parse(path.read_text(encoding="utf-8"))
    visit(tree, [tree])
    return found


_ILU_BRACKETS = re.compile(r"\{[^{}\[\]]*\}|\[[^{}\[\]]*\]")
_ILU_KEY = re.compile(r'(?:"([A-Z][A-Z0-9_]*)"|\b([A-Z][A-Z0-9_]*))\s*:')   # an object key
_ILU_STRING = re.compile(r'"([A-Z][A-Z0-9_]*)"')                          # a list element


_ILU_TOP_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(.*\))?\s*=", re.M)   # a global or function


def ilu_copies(path: Path, rel: str) -> list[tuple[str, str, int]]:
    """(file, owner, line) of each ilusm list with two or more opcode name strings, or object
    literal with two or more opcode names as keys, in an .ilu file, owner being the top-level
    global or function it is written in; comment lines are skipped."""
    lines = path.read_text(encoding="utf-8").splitlines()
    text = "\n".join("" if line.lstrip().startswith("#") else line for line in lines)
    found = []
    for m in _ILU_BRACKETS.finditer(text):
        body = m.group()
        names = [a or b for a, b in _ILU_KEY.findall(body)] if body[0] == "{" else _ILU_STRING.findall(body)
        if sum(n in OPCODE_NAMES for n in names) >= 2:
            owners = _ILU_TOP_NAME.findall(text, 0, m.start())
            found.append((rel, owners[-1] if owners else "", text.count("\n", 0, m.start()) + 1))
    return found


def scanned_files() -> list[Path]:
    """The consumers: stage0/**/*.py and tools/*.py but the table, lib/**/*.ilu but the generated module."""
    py = [p for p in sorted((ROOT / "stage0").rglob("*.py")) + sorted((ROOT / "tools").glob("*.py"))
          if p != ROOT / "stage0" / "isa.py"]
    ilu = [p for p in sorted((ROOT / "lib").rglob("*.ilu")) if p != ROOT / "lib" / "backend" / "opcodes.ilu"]
    return py + ilu


def copies(paths: list[Path], root: Path) -> list[tuple[str, str, int]]:
    """Every literal collection of opcode names in paths."""
    out = []
    for p in paths:
        rel = p.relative_to(root).as_posix()
        out += ilu_copies(p, rel) if p.suffix == ".ilu" else python_copies(p, rel)
    return out


def test_no_consumer_keeps_a_list_of_opcodes() -> None:
    files = scanned_files()
    assert len(files) > 40 and any(p.suffix == ".ilu" for p in files)
    found = copies(files, ROOT)
    stray = [c for c in found if (c[0], c[1]) not in ALLOWED]
    assert stray == [], "keep these facts in stage0/isa.py and derive them: " + repr(stray)
    # Every exception is still needed (a stale one would let a copy back in unnoticed).
    assert {(f, o) for f, o, _ in found} == ALLOWED


@pytest.mark.parametrize("planted, suffix", [
    ('_TERMS = {"RET", "JUMP"}\n', ".py"),
    ('def f(n):\n    return n in ("FOR_NEXT", "FOR_NEXT2")\n', ".py"),
    ('RULES = {"LOAD_LOCAL": 1, "STORE_LOCAL": 2}\n', ".py"),
    ('_INDEXED = {"k": "constant", "fn": "function"}\n', ".py"),
    ('_PACK = {"u8": "<B", "i16": "<h"}\n', ".py"),
    ('POOLS = {PUSH_CONST: "cs", LOAD_GLOBAL: "nm"}\n', ".ilu"),
    ('f(x) =\n    jumps = ["JUMP",\n             "JUMP_IF"]\n    x\n', ".ilu"),
])
def test_a_planted_copy_is_found(tmp_path: Path, planted: str, suffix: str) -> None:
    """The scan finds each shape of copy (so the test above cannot pass by finding nothing)."""
    path = tmp_path / ("copy" + suffix)
    path.write_text(planted, encoding="utf-8")
    assert len(copies([path], tmp_path)) == 1
    path.write_text(planted.replace('"RET"', '"ret"').replace("PUSH_CONST", "k").replace('"JUMP"', "x")
                    .replace('"FOR_NEXT"', "y").replace('"LOAD_LOCAL"', "z").replace('"fn"', "f")
                    .replace('"i16"', "i"), encoding="utf-8")
    assert copies([path], tmp_path) == []


def test_allowed_exceptions_are_in_place() -> None:
    """Each allowed collection is where ALLOWED says (so its owner names are not guesses)."""
    vm = python_copies(ROOT / "stage0/interp/vm.py", "stage0/interp/vm.py")
    assert [(f, o) for f, o, _ in vm] == [("stage0/interp/vm.py", "LOAD_LOCAL")]
    ilu = ilu_copies(ROOT / "lib/backend/ilusm_vm.ilu", "lib/backend/ilusm_vm.ilu")
    assert {(f, o) for f, o, _ in ilu} == {("lib/backend/ilusm_vm.ilu", "INLINE")}


def test_an_ilu_copy_is_named_by_its_global_or_function(tmp_path: Path) -> None:
    path = tmp_path / "copy.ilu"
    path.write_text('K = 1\nPOOLS = {PUSH_CONST: "cs", LOAD_GLOBAL: "nm"}\n'
                    'f(x) =\n    jumps = ["JUMP",\n             "JUMP_IF"]\n    x\n', encoding="utf-8")
    assert [o for _, o, _ in ilu_copies(path, "copy.ilu")] == ["POOLS", "f"]


# ---- the table's columns hang together ----------------------------------------------

def test_table_columns() -> None:
    """Roles, control flow and slot columns say what the consumers used to keep on the side."""
    by = isa.BY_NAME
    base = [op for op in isa.TABLE if not op.parts]
    assert {op.name for op in base if op.is_jump} == {
        "JUMP", "JUMP_IF", "JUMP_UNLESS", "JUMP_IF_NIL", "FOR_NEXT", "FOR_NEXT2"}
    assert {op.name for op in isa.TABLE if op.ends_block} == {op.name for op in isa.TABLE if op.is_jump} | {"RET"}
    assert [op.name for op in isa.TABLE if op.returns] == ["RET"]
    assert {n: by[n].taken_delta((0,) * len(by[n].operands)) for n in ("JUMP", "JUMP_IF", "JUMP_IF_NIL", "FOR_NEXT2")} \
        == {"JUMP": 0, "JUMP_IF": -1, "JUMP_IF_NIL": 0, "FOR_NEXT2": 0}
    assert by["SYSCALL"].roles == ("name", "count") and by["FOR_NEXT"].roles == ("slot", "jump")
    assert {op.name for op in base if op.writes_slot} == {"STORE_LOCAL", "ITER", "ITER2", "ITER_RANGE",
                                                          "MAKE_CELL"}
    assert {op.name for op in base if op.reads_slot} == {"LOAD_LOCAL", "MAKE_CELL", "LOAD_CELL", "STORE_CELL",
                                                         "FOR_NEXT", "FOR_NEXT2"}


def test_superinstruction_columns_come_from_their_parts() -> None:
    """A superinstruction's operands, stack effect, control and slot columns are its parts'."""
    by = isa.BY_NAME
    two = by["LOAD_LOCAL2"]
    assert two.parts == ("LOAD_LOCAL", "LOAD_LOCAL") and two.roles == ("slot", "slot")
    assert two.stack_delta((1, 2)) == (0, 2) and two.slot_positions == (0, 1) and two.reads_slot
    assert not two.writes_slot and two.falls and not two.is_jump
    assert by["LOAD_LOCAL_FIELD"].stack_delta((0, 0)) == (0, 1)
    assert by["LOAD_LOCAL_CONST"].roles == ("slot", "const")
    lt = by["LT_JUMP_UNLESS"]
    assert lt.is_jump and lt.falls and lt.stack_delta((5,)) == (2, 0) and lt.taken_delta((5,)) == -2
    assert [(p.name, a) for p, a in by["LOAD_LOCAL_FIELD"].split((3, "x"))] == [("LOAD_LOCAL", (3,)),
                                                                                ("GET_FIELD", ("x",))]
    assert by["ADD"].split(()) == [(by["ADD"], ())]
    # Every superinstruction is made of instructions that are not superinstructions themselves.
    assert all(not by[p].parts for op in isa.FUSIONS for p in op.parts)


# ---- the ilusm view of the table ----------------------------------------------------

SAMPLE_ARGS = (0, 1, 3, 200)

ILU_EFFECTS = """use opcodes
use mcde
o <- opcodes.table:
    v <- [{args}]:
        args = []
        k <- o.operands: push(args, v)
        prn o.name, v, mcde.effect(o.name, args), mcde.taken_effect(o.name, args), mcde.operand(o.name, "jump")
"""


def test_ilusm_stack_effects_match_the_table(tmp_path: Path) -> None:
    """mcde.effect / taken_effect / operand, computed in ilusm from opcodes.ilu alone, agree with isa.Op."""
    prog = tmp_path / "effects.ilu"
    prog.write_text(ILU_EFFECTS.format(args=", ".join(map(str, SAMPLE_ARGS))), encoding="utf-8")
    status, out, err = run_image(ilbc.read(ilbc.write(driver.compile_file(prog))), [])
    assert status == 0, err
    want = []
    for op in isa.TABLE:
        for v in SAMPLE_ARGS:
            args = (v,) * len(op.operands)
            pops, pushes = op.stack_delta(args)
            taken = "nil" if op.taken_pushes is None else f"[{pops}, {op.taken_pushes}]"
            want.append(f"{op.name} {v} [{pops}, {pushes}] {taken} {op.role_at('jump')}")
    assert out.splitlines() == want


# ---- control flow is analysed once --------------------------------------------------

def _depths_by_walk(func: FuncDef) -> dict[int, int]:
    """An independent oracle: the stack depth before each reachable instruction, from the table alone."""
    instrs = decode(func.code)
    at = {off: (opcode, args) for off, opcode, args in instrs}
    nxt = {off: end for (off, _, _), end in zip(instrs, [o for o, _, _ in instrs[1:]] + [len(func.code)])}
    depth, work = {0: 0}, [0]
    while work:
        off = work.pop()
        op = isa.BY_CODE[at[off][0]]
        args = at[off][1]
        pops, pushes = op.stack_delta(args)
        outs = [(nxt[off], depth[off] - pops + pushes)] if op.falls else []
        if op.is_jump:
            outs.append((off + op.size + args[-1], depth[off] + op.taken_delta(args)))
        for o, d in outs:
            if o not in depth:
                depth[o] = d
                work.append(o)
    return depth


def _images() -> list[Image]:
    """ilusm.ilbc and every spec program of tests/spec that compiles."""
    images = [ilbc.read((ROOT / "ilusm.ilbc").read_bytes())]
    for path in spec_files(ROOT / "tests" / "spec"):
        try:
            images.append(ilbc.read(ilbc.write(driver.compile_file(path))))
        except CompileError:
            continue
    return images


def test_fast_tier_starts_from_the_verifiers_analysis() -> None:
    """The verifier's depths are right; the loader keeps them by instruction; every block of
    the fast tier's Flow starts at a verifier leader (or after dead code) with its depth."""
    nfuncs = 0
    for image in _images():
        protos, _ = load(image)
        for func, proto in zip(image.funcs, protos):
            assert func.flow is not None and func.flow.depths == _depths_by_walk(func)
            offsets = [off for off, _, _ in decode(func.code)]
            assert proto.depths == [func.flow.depths.get(off) for off in offsets]
            assert {offsets[i] for i in proto.leaders} == func.flow.leaders
            flow = Flow(proto)
            starts = {bl.start for bl in flow.blocks}
            assert {i for i in proto.leaders} <= starts
            for bl in flow.blocks:
                assert bl.depth == func.flow.depths[offsets[bl.start]]
                assert bl.start in proto.leaders or proto.depths[bl.start - 1] is None
            nfuncs += 1
    assert nfuncs > 3000


def test_fast_tier_has_no_depth_walk_of_its_own() -> None:
    """The code that computed stack depths in fast/flow.py is gone, not just unused."""
    src = inspect.getsource(fast_flow)
    for word in ("pop_rule", "pops_of", "stack_delta", "taken_delta", ".pushes", "EFFECT"):
        assert word not in src, word
    assert "proto.depths" in src and "proto.leaders" in src
