"""Turns a validated Image into what the VM executes: prototypes and modules.

Each function's bytes are decoded once into a list of `(op, a, b)` tuples with
operands pre-resolved: PUSH_CONST carries the constant itself, name operands
carry the name string, jumps carry the target instruction index, and
MAKE_CLOSURE carries the callee's Proto. The VM's loop then never looks a
pool up on the hot path.
"""
from __future__ import annotations

from typing import Any

from stage0 import isa
from stage0.image.ilbc import decode
from stage0.image.model import Image
from stage0.values import UNSET

NAME_OPERANDS = {"LOAD_GLOBAL", "STORE_GLOBAL", "GET_FIELD", "SET_FIELD", "SYSCALL"}


class Proto:
    """A decoded function definition."""

    __slots__ = ("name", "arity", "nlocals", "upvals", "code", "lines", "pad", "local_names",
                 "upval_names", "index")

    def __init__(self, index: int, name: str, arity: int, nlocals: int) -> None:
        self.index, self.name, self.arity, self.nlocals = index, name, arity, nlocals
        self.pad: list[Any] = [UNSET] * (nlocals - arity)
        self.upvals: list[tuple[int, int]] = []
        self.code: list[tuple[int, Any, Any]] = []
        self.lines: list[int] = []
        self.local_names: list[str] = []
        self.upval_names: list[str] = []


class ModuleRT:
    """A module at run time: its globals and, once run, its exported object."""

    __slots__ = ("key", "file", "main", "globals", "state", "export")

    NEW, RUNNING, DONE = 0, 1, 2

    def __init__(self, key: str, file: str, main: Proto) -> None:
        self.key, self.file, self.main = key, file, main
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
        proto.code, proto.lines = _decode(f.code, f.lines, image, protos)
    modules = [ModuleRT(image.names[m.name], image.names[m.file], protos[m.main]) for m in image.modules]
    return protos, modules


def _decode(code: bytes, lines: list[tuple[int, int]], image: Image,
            protos: list[Proto]) -> tuple[list[tuple[int, Any, Any]], list[int]]:
    """Decode one function's bytes into resolved instruction tuples and a line per instruction."""
    raw = decode(code)
    index_of = {off: i for i, (off, _, _) in enumerate(raw)}
    out: list[tuple[int, Any, Any]] = []
    for off, opcode, args in raw:
        op = isa.BY_CODE[opcode]
        a: Any = args[0] if args else 0
        b: Any = args[1] if len(args) > 1 else 0
        if op.is_jump:
            target = index_of[off + op.size + args[-1]]
            a, b = (a, target) if len(args) == 2 else (target, 0)
        elif op.name == "PUSH_CONST":
            a = image.consts[a]
        elif op.name in NAME_OPERANDS:
            a = image.names[a]
        elif op.name == "MAKE_CLOSURE":
            a = protos[a]
        out.append((opcode, a, b))
    return out, _line_per_instruction(raw, lines)


def _line_per_instruction(raw: list[tuple[int, int, tuple[int, ...]]], lines: list[tuple[int, int]]) -> list[int]:
    """Expand the (offset, line) table to one line number per instruction."""
    result, j, line = [], 0, 0
    for off, _, _ in raw:
        while j < len(lines) and lines[j][0] <= off:
            line = lines[j][1]
            j += 1
        result.append(line)
    return result
