"""Instruction emission for the seed compiler: pools, code buffers, jump patching.

`ImageBuilder` owns the pools shared by every function of an image
(constants, names, function definitions). `FnBuilder` accumulates one
function's instructions and line marks and lays them out at the end, choosing
the WIDE form where an operand or a jump offset does not fit; operands are
encoded with the widths of the ISA table, so this file never spells an opcode
number.
"""
from __future__ import annotations

import struct

from stage0 import isa
from stage0.image.model import Const, FuncDef, Image, const_key

# Off only to measure what the superinstructions save (tools/superinstructions.py): the
# toolchain always fuses, so that both compilers give the same bytes.
FUSE = True

_PACK = {kind: "<" + c for kind, c in isa.STRUCT_CODES.items()}
_WIDE_PACK = {kind: "<" + c for kind, c in isa.WIDE_STRUCT_CODES.items()}


class ImageBuilder:
    """Constant and name pools plus the function list of one image."""

    def __init__(self) -> None:
        self.image = Image()
        self._consts: dict[tuple[str, object], int] = {}
        self._names: dict[str, int] = {}

    def const(self, v: Const) -> int:
        """Pool index of a constant, adding it once."""
        key = const_key(v)
        if key not in self._consts:
            self._consts[key] = len(self.image.consts)
            self.image.consts.append(v)
        return self._consts[key]

    def name(self, s: str) -> int:
        """Pool index of a name, adding it once."""
        if s not in self._names:
            self._names[s] = len(self.image.names)
            self.image.names.append(s)
        return self._names[s]

    def reserve_func(self) -> int:
        """Reserve a function slot (filled by `set_func`) so nesting keeps source order."""
        self.image.funcs.append(FuncDef(0, 0, 0, [], b"", []))
        return len(self.image.funcs) - 1


class FnBuilder:
    """The code of one function being compiled, kept as a list of instructions
    until `assemble` lays it out (mirrored by lib/backend/compiler.ilu, ilu.ilu
    and mcde.ilu, so both compilers choose the same short and wide forms)."""

    def __init__(self) -> None:
        self.ins: list[tuple[str, list[int]]] = []
        self.to: dict[int, int] = {}               # jump index -> target instruction index
        self.marks: list[tuple[int, int]] = []     # (instruction index, line)
        self.line = 0

    def at(self, line: int) -> None:
        """Set the source line for the instructions that follow."""
        if line and line != self.line:
            self.line = line
            if self.marks and self.marks[-1][0] == len(self.ins):
                self.marks[-1] = (len(self.ins), line)
            else:
                self.marks.append((len(self.ins), line))

    def emit(self, name: str, *operands: int) -> int:
        """Append one instruction; returns its index."""
        op = isa.BY_NAME[name]
        if len(operands) != len(op.operands):
            raise ValueError(f"{name} takes {len(op.operands)} operands")
        for value, (_, kind) in zip(operands, op.operands):
            lo, hi = isa.WIDE_RANGE[kind]
            if kind != "i16" and not lo <= value <= hi:
                raise OverflowError(f"program too large: {name} operand {value} does not fit in "
                                    f"{'u8' if kind == 'u8' else 'u32'}")
        self.ins.append((name, list(operands)))
        return len(self.ins) - 1

    def jump(self, name: str, *operands: int) -> int:
        """Emit a jump whose target is set by `patch`; returns its index."""
        return self.emit(name, *operands, 0)

    def patch(self, at: int, target: int | None = None) -> None:
        """Point the jump at index `at` to instruction index `target` (default: the next one)."""
        self.to[at] = len(self.ins) if target is None else target

    def loop_back(self, target: int) -> None:
        """Emit a backward JUMP to instruction index `target`."""
        self.patch(self.jump("JUMP"), target)

    def here(self) -> int:
        """The index of the next instruction."""
        return len(self.ins)

    def fuse(self) -> None:
        """Replace each run of instructions that is a superinstruction's parts by it (the ISA's
        FUSIONS, first match from the left), unless a jump lands inside the run or a new source
        line starts there; jumps and line marks are renumbered. Mirrors compiler.ilu fuse."""
        inner = set(self.to.values()) | {i for i, _ in self.marks}
        out: list[tuple[str, list[int]]] = []
        where: list[int] = []  # old instruction index -> new index
        i = 0
        while i < len(self.ins):
            op = _fusion_at(self.ins, i, inner)
            n = len(op.parts) if op else 1
            where += [len(out)] * n
            out.append((op.name, [a for _, args in self.ins[i:i + n] for a in args]) if op else self.ins[i])
            i += n
        where.append(len(out))
        self.to = {where[j]: where[t] for j, t in self.to.items()}
        self.marks = [(where[i], line) for i, line in self.marks]
        self.ins = out

    def assemble(self) -> tuple[bytes, list[tuple[int, int]]]:
        """The code bytes and the (offset, line) table, jumps resolved (superinstructions fused)."""
        if FUSE:
            self.fuse()
        pcs, wide = self._layout()
        code = bytearray()
        for i, (name, args) in enumerate(self.ins):
            if i in self.to:
                args = args[:-1] + [pcs[self.to[i]] - pcs[i] - isa.BY_NAME[name].size]
            _encode(code, isa.BY_NAME[name], args, wide[i])
        return bytes(code), [(pcs[i], line) for i, line in self.marks]

    def _layout(self) -> tuple[list[int], list[bool]]:
        """Byte offsets of the instructions (and of the end), and which take WIDE: every
        instruction starts short unless an operand needs more; a jump whose short offset
        does not fit is widened and the layout redone. Sizes only grow, so this ends."""
        ops = [isa.BY_NAME[name] for name, _ in self.ins]
        wide = [op.needs_wide(tuple(args[:-1] if i in self.to else args)) for i, (op, (_, args))
                in enumerate(zip(ops, self.ins))]
        lo, hi = isa.SHORT_RANGE["i16"]
        while True:
            pcs = [0]
            for op, w in zip(ops, wide):
                pcs.append(pcs[-1] + (op.wide_size if w else op.size))
            grew = False
            for j, t in self.to.items():
                if not wide[j] and not lo <= pcs[t] - pcs[j] - ops[j].size <= hi:
                    wide[j] = grew = True
            if not grew:
                return pcs, wide


def _fusion_at(ins: list[tuple[str, list[int]]], i: int, inner: set[int]) -> isa.Op | None:
    """The first superinstruction whose parts are the instructions from index i on, none of
    them after the first a jump target or a line start; None when there is none."""
    for op in isa.FUSIONS_FROM.get(ins[i][0], ()):
        n = len(op.parts)
        if (tuple(name for name, _ in ins[i:i + n]) == op.parts
                and not any(j in inner for j in range(i + 1, i + n))):
            return op
    return None


def _encode(code: bytearray, op: isa.Op, args: list[int], wide: bool) -> None:
    """Append one instruction; a wide jump's offset is taken from the end of its short form."""
    if wide:
        code.append(isa.WIDE)
        if op.is_jump:
            args = args[:-1] + [args[-1] - (op.wide_size - op.size)]
    code.append(op.code)
    for value, (_, kind) in zip(args, op.operands):
        fmt = _WIDE_PACK[kind] if wide else _PACK[kind]
        try:
            code += struct.pack(fmt, value)
        except struct.error:
            raise OverflowError(f"program too large: {op.name} operand {value} does not fit") from None
