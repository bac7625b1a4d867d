"""Turns a validated Image into what the VM executes: prototypes and modules.

Each function's bytes are decoded once into a list of `(op, a, b)` tuples with
operands pre-resolved by their role in the ISA table: a constant operand
(PUSH_CONST) carries the constant itself, name operands carry the name
string, jumps carry the target instruction index, and a function operand
(MAKE_CLOSURE) carries the callee's Proto. The VM's loop then never looks a
pool up on the hot path. The verifier's analysis comes along by instruction
index: the stack depth before each instruction and the block leaders.
"""
from __future__ import annotations

from typing import Any

from stage0 import isa
from stage0.image.model import Image
from stage0.image.verify import Instr, code_flow
from stage0.values import UNSET

# The loader resolves operands of these roles to what they stand for.
_RESOLVED = ("jump", "const", "name", "func")
# By opcode byte: (position, role) of each operand to resolve.
_RESOLVE = {op.code: tuple((i, r) for i, r in enumerate(op.roles) if r in _RESOLVED) for op in isa.TABLE}


class Proto:
    """A decoded function definition."""

    __slots__ = ("name", "arity", "nlocals", "upvals", "code", "lines", "pad", "local_names",
                 "upval_names", "index", "depths", "leaders")

    def __init__(self, index: int, name: str, arity: int, nlocals: int) -> None:
        self.index, self.name, self.arity, self.nlocals = index, name, arity, nlocals
        self.pad: list[Any] = [UNSET] * (nlocals - arity)
        self.upvals: list[tuple[int, int]] = []
        self.code: list[tuple[int, Any, Any]] = []
        self.lines: list[int] = []
        self.local_names: list[str] = []
        self.upval_names: list[str] = []
        self.depths: list[int | None] = []  # stack depth before each instruction; None: unreachable
        self.leaders: frozenset[int] = frozenset()  # instructions that start a basic block


class ModuleRT:
    """A module at run time: its globals and, once run, its exported object."""

    __slots__ = ("key", "file", "main", "globals", "state", "export", "requires", "uses")

    NEW, RUNNING, DONE = 0, 1, 2

    def __init__(self, key: str, file: str, main: Proto, requires: tuple[str, ...] = (),
                 uses: tuple[str, ...] = ()) -> None:
        self.key, self.file, self.main = key, file, main
        self.requires, self.uses = requires, uses  # declared capabilities (layer 1)
        self.globals: dict[str, Any] = {}
        self.state = ModuleRT.NEW
        self.export: dict[str, Any] = {}


def load(image: Image) -> tuple[list[Proto], list[ModuleRT]]:
    """Decode every function and module of a validated image."""
    protos = [Proto(i, image.names[f.name], f.arity, f.nlocals) for i, f in enumerate(image.funcs)]
    for proto, f in zip(protos, image.funcs):
        proto.upvals = list(f.upvals)
        proto.local_names = [image.names[i] for i in f.local_names]
        proto.upval_names = [image.names[i] for i in f.upval_names]
        flow = code_flow(f, image)  # decoded and analysed once, when the image was read
        raw = flow.instrs
        index_of = {off: i for i, (off, _, _) in enumerate(raw)}
        proto.code = _resolve(raw, index_of, image, protos)
        proto.lines = _line_per_instruction(raw, f.lines)
        proto.depths = [flow.depths.get(off) for off, _, _ in raw]
        proto.leaders = frozenset(index_of[off] for off in flow.leaders)
    modules = [ModuleRT(image.names[m.name], image.names[m.file], protos[m.main],
                        tuple(image.names[c] for c in m.requires), tuple(image.names[c] for c in m.uses))
               for m in image.modules]
    return protos, modules


def _resolve(raw: list[Instr], index_of: dict[int, int], image: Image,
             protos: list[Proto]) -> list[tuple[int, Any, Any]]:
    """One function's decoded instructions as resolved `(op, a, b)` tuples (index_of:
    instruction index by byte offset)."""
    out: list[tuple[int, Any, Any]] = []
    for off, opcode, args in raw:
        todo = _RESOLVE[opcode]
        if not todo:
            out.append((opcode, args[0] if args else 0, args[1] if len(args) > 1 else 0))
            continue
        vals: list[Any] = list(args)
        for i, role in todo:
            if role == "jump":
                vals[i] = index_of[off + isa.BY_CODE[opcode].size + args[i]]
            elif role == "const":
                vals[i] = image.consts[args[i]]
            elif role == "name":
                vals[i] = image.names[args[i]]
            elif role == "func":
                vals[i] = protos[args[i]]
        vals += [0, 0]
        out.append((opcode, vals[0], vals[1]))
    return out


def _line_per_instruction(raw: list[Instr], lines: list[tuple[int, int]]) -> list[int]:
    """Expand the (offset, line) table to one line number per instruction."""
    result, j, line = [], 0, 0
    for off, _, _ in raw:
        while j < len(lines) and lines[j][0] <= off:
            line = lines[j][1]
            j += 1
        result.append(line)
    return result
