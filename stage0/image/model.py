"""The in-memory form of an ILBC image: what the compiler builds and the VM runs.

An Image is the program object of seed 004 widened to a whole program:
constants (`cs`), names (`nm`), function definitions (`df`) and a module
table. `stage0/image/ilbc.py` turns it into bytes and back; nothing here knows the
byte format.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

Const = Union[int, float, str]

UPVAL_FROM_CELL = 0   # capture the cell in the parent's local slot
UPVAL_FROM_UPVAL = 1  # capture the parent's own captured variable


@dataclass(frozen=True)
class CodeFlow:
    """What the verifier learnt of one function's code (stage0/image/verify.py),
    kept with it so that later passes (the fast tier) need not walk it again."""

    code: bytes              # the code it describes (a FuncDef whose code changed is analysed again)
    depths: dict[int, int]   # stack depth before each reachable instruction, by byte offset
    leaders: frozenset[int]  # offsets of reachable instructions that start a basic block
    max_depth: int           # the deepest the stack gets
    instrs: list[tuple[int, int, tuple[int, ...]]]  # the decoded instructions, (offset, opcode, operands)


@dataclass
class FuncDef:
    """One function: its code and what the VM needs to build a frame."""

    name: int                      # index into Image.names
    arity: int
    nlocals: int                   # parameters first, then other locals
    upvals: list[tuple[int, int]]  # (UPVAL_FROM_CELL | UPVAL_FROM_UPVAL, index)
    code: bytes
    lines: list[tuple[int, int]]   # (code offset, source line), offsets ascending
    # Debug names (indices into Image.names) for error messages and the
    # disassembler: empty, or one per local slot / captured variable.
    local_names: list[int] = field(default_factory=list)
    upval_names: list[int] = field(default_factory=list)
    # Set by the verifier; not part of the image (never written, never compared).
    flow: CodeFlow | None = field(default=None, compare=False, repr=False)


@dataclass
class ModuleEntry:
    """A module of the image: its key, its file for traces, its body function."""

    name: int   # index into Image.names: the module key, e.g. "lib/stdlib/trl.ilu"
    file: int   # index into Image.names: the file shown in traces
    main: int   # index into Image.funcs: the module's top-level code (arity 0)
    requires: tuple[int, ...] = ()  # indices into Image.names: capabilities `# @requires` declares
    uses: tuple[int, ...] = ()      # indices into Image.names: capabilities `# @uses` declares (soft)


@dataclass
class Image:
    """A whole program: the unit the compiler writes and the VM loads."""

    consts: list[Const] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    funcs: list[FuncDef] = field(default_factory=list)
    modules: list[ModuleEntry] = field(default_factory=list)
    entry: int = 0  # index into modules: the module `ilusm run` starts

    def name(self, i: int) -> str:
        """The name at index i."""
        return self.names[i]


def const_key(v: Const) -> tuple[str, object]:
    """Pool key that keeps 1, 1.0, tru and -0.0 apart (Python would merge them)."""
    if isinstance(v, float):
        return ("f", v.hex())
    return (type(v).__name__, v)
