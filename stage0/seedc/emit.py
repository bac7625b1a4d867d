"""Instruction emission for the seed compiler: pools, code buffers, jump patching.

`ImageBuilder` owns the pools shared by every function of an image
(constants, names, function definitions). `FnBuilder` accumulates one
function's bytes and line table; operands are encoded with the widths of the
ISA table, so this file never spells an opcode number.
"""
from __future__ import annotations

import struct

from stage0 import isa
from stage0.image import Const, FuncDef, Image, const_key

_PACK = {"u8": "<B", "u16": "<H", "i16": "<h"}


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
    """The code of one function being compiled."""

    def __init__(self) -> None:
        self.code = bytearray()
        self.lines: list[tuple[int, int]] = []
        self.line = 0

    def at(self, line: int) -> None:
        """Set the source line for the instructions that follow."""
        if line and line != self.line:
            self.line = line
            if self.lines and self.lines[-1][0] == len(self.code):
                self.lines[-1] = (len(self.code), line)
            else:
                self.lines.append((len(self.code), line))

    def emit(self, name: str, *operands: int) -> int:
        """Append one instruction; returns its offset."""
        op = isa.BY_NAME[name]
        if len(operands) != len(op.operands):
            raise ValueError(f"{name} takes {len(op.operands)} operands")
        start = len(self.code)
        self.code.append(op.code)
        for value, (_, kind) in zip(operands, op.operands):
            try:
                self.code += struct.pack(_PACK[kind], value)
            except struct.error:
                raise OverflowError(f"program too large: {name} operand {value} does not fit in {kind}") from None
        return start

    def jump(self, name: str, *operands: int) -> int:
        """Emit a forward jump with a placeholder offset; returns its offset."""
        return self.emit(name, *operands, 0)

    def patch(self, at: int, target: int | None = None) -> None:
        """Point the jump at offset `at` to `target` (default: here)."""
        op = isa.BY_CODE[self.code[at]]
        end = at + op.size
        dest = len(self.code) if target is None else target
        delta = dest - end
        if not -32768 <= delta <= 32767:
            raise OverflowError("jump too far: function too large")
        struct.pack_into("<h", self.code, end - 2, delta)

    def loop_back(self, target: int) -> None:
        """Emit a backward JUMP to `target`."""
        self.patch(self.jump("JUMP"), target)

    def here(self) -> int:
        """The offset of the next instruction."""
        return len(self.code)
