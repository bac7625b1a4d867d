"""The ilusm instruction set, defined once as data.

Every consumer derives from the table below: the VM builds its dispatch from
it, the seed compiler emits with it, the ILBC reader decodes operands with it,
the disassembler prints with it, and `tools/gen_opcodes.py` writes the
`lib/backend/opcodes.ilu` module the self-hosted compiler uses. The opcodes
seed 000 lists keep its numbers, names and stack effects; the rest sit in
free numbers and are documented in docs/ilbc.md (generated from this table).

Operand kinds:
  u8, u16   unsigned little-endian integers
  i16       signed little-endian jump offset, relative to the end of the
            instruction (the address of the next instruction)
The `pops`/`pushes` columns give the stack effect; a string names the operand
whose value sets it ("argc+1" pops argc + 1 values, "2*n" pops 2n).

Besides its kind, each operand has a role (ROLES: what its value stands for,
fixed by the operand's name), and the keyword columns of the table say how
control leaves an instruction and which local slot kinds it needs and leaves
(see `Op`). The verifier, the loader, the disassembler, the fast tier and the
self-hosted encoder (through the generated opcodes.ilu) read these facts here
and keep no list of opcodes of their own (tests/test_isa_facts.py).

The WIDE prefix (not an instruction of its own, so not in TABLE) makes the
next instruction's u16 operands u32 and its i16 jump offset i32; u8 operands
keep their width. It is used only where an operand does not fit the short
form (docs/ilbc.md, "Wide operands").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

OPERAND_SIZES = {"u8": 1, "u16": 2, "i16": 2}
# Operand sizes after a WIDE prefix.
WIDE_OPERAND_SIZES = {"u8": 1, "u16": 4, "i16": 4}
# The prefix byte; a free opcode number no instruction may take.
WIDE = 0xFE


# What an operand's value stands for, by operand name: an index into a pool of
# the image (const, name, func, module), into the frame (slot: a local slot;
# upval: a captured variable of the running closure), a jump offset, or a count.
ROLES = {
    "k": "const", "name": "name", "fn": "func", "mod": "module", "slot": "slot",
    "idx": "upval", "off": "jump", "argc": "count", "n": "count",
}
# The roles that index something, and the words errors use for them.
INDEX_ROLES = {
    "const": "constant", "name": "name", "func": "function", "module": "module",
    "slot": "local slot", "upval": "upvalue",
}
# What a local slot may hold (the verifier tracks this for every slot), with the words its
# messages use. In the slot_in column "noncell" means anything but a cell: the instruction
# overwrites the slot, and a cell lives as long as its captured variable.
SLOT_KIND_WORDS = {"value": "a value", "cell": "a cell", "iter": "an iterator", "pairs": "a pair iterator"}
SLOT_KINDS = tuple(SLOT_KIND_WORDS)

# struct format letters of each operand kind, short and after WIDE.
STRUCT_CODES = {"u8": "B", "u16": "H", "i16": "h"}
WIDE_STRUCT_CODES = {"u8": "B", "u16": "I", "i16": "i"}


def _range(kind: str, size: int) -> tuple[int, int]:
    """The (lowest, highest) value of an operand of this kind encoded in size bytes."""
    bits = 8 * size
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if kind.startswith("i") else (0, (1 << bits) - 1)


# The ranges of the short and wide forms: a value outside SHORT_RANGE needs WIDE.
SHORT_RANGE = {k: _range(k, n) for k, n in OPERAND_SIZES.items()}
WIDE_RANGE = {k: _range(k, n) for k, n in WIDE_OPERAND_SIZES.items()}


@dataclass(frozen=True)
class Op:
    """One instruction: name, number, operands (name, kind, role), stack effect,
    how control leaves it, the local slot it uses, meaning."""

    name: str
    code: int
    operands: tuple[tuple[str, str], ...]  # (operand name, kind)
    pops: int | str
    pushes: int
    effect: str
    doc: str
    roles: tuple[str, ...] = ()      # ROLES of each operand, in order
    falls: bool = True               # control may go on to the next instruction
    taken_pushes: int | None = None  # a jump: values pushed when it is taken (pops as usual)
    slot_in: str | None = None       # the slot operand: kind it must hold before (or "noncell")
    slot_out: str | None = None      # the slot operand: kind it holds after (None: unchanged)
    parts: tuple[str, ...] = ()      # a superinstruction: the instructions it does, in order

    @property
    def size(self) -> int:
        """Encoded size in bytes: one opcode byte plus the operands."""
        return 1 + sum(OPERAND_SIZES[k] for _, k in self.operands)

    @property
    def wide_size(self) -> int:
        """Encoded size with the WIDE prefix: prefix, opcode and widened operands."""
        return 2 + sum(WIDE_OPERAND_SIZES[k] for _, k in self.operands)

    @property
    def can_widen(self) -> bool:
        """True when a WIDE prefix changes this instruction (it has a u16 or i16 operand)."""
        return any(k != "u8" for _, k in self.operands)

    def needs_wide(self, args: tuple[int, ...]) -> bool:
        """True when some operand value lies outside its short form's range."""
        return any(not SHORT_RANGE[k][0] <= v <= SHORT_RANGE[k][1] for (_, k), v in zip(self.operands, args))

    @property
    def is_jump(self) -> bool:
        """True when the last operand is a relative jump offset."""
        return bool(self.roles) and self.roles[-1] == "jump"

    @property
    def ends_block(self) -> bool:
        """True when the instruction ends a basic block: it jumps, or control stops here."""
        return self.is_jump or not self.falls

    @property
    def returns(self) -> bool:
        """True when control leaves the function here (neither falls through nor jumps)."""
        return not self.falls and not self.is_jump

    @property
    def reads_slot(self) -> bool:
        """True when the instruction uses what its slot operand holds (so it must be set)."""
        return self.slot_in is not None and self.slot_in != "noncell"

    @property
    def writes_slot(self) -> bool:
        """True when the instruction stores into its slot operand."""
        return self.slot_out is not None

    @property
    def slot_positions(self) -> tuple[int, ...]:
        """The positions of the local slot operands (a superinstruction may have two)."""
        return tuple(i for i, r in enumerate(self.roles) if r == "slot")

    @property
    def steps(self) -> tuple[tuple["Op", tuple[int, ...]], ...]:
        """What the instruction does, in order: a superinstruction's parts, each with the
        positions of its own operands among the fused ones (the parts' operands in order);
        any other instruction is its only step, with all its operands."""
        if not self.parts:
            return ((self, tuple(range(len(self.operands)))),)
        out, at = [], 0
        for name in self.parts:
            n = len(BY_NAME[name].operands)
            out.append((BY_NAME[name], tuple(range(at, at + n))))
            at += n
        return tuple(out)

    def split(self, args: tuple[Any, ...]) -> list[tuple["Op", tuple[Any, ...]]]:
        """The steps with their operand values."""
        return [(part, tuple(args[i] for i in at)) for part, at in self.steps]

    def role_at(self, role: str) -> int:
        """The position of the first operand with this role; -1 when there is none."""
        return self.roles.index(role) if role in self.roles else -1

    @property
    def pop_rule(self) -> tuple[int, int, int]:
        """The pops column as data: (factor, operand position, constant), meaning
        factor * operand + constant; (0, -1, n) for a fixed n."""
        return _pop_rules[self.name]

    def pops_of(self, args: tuple[int, ...]) -> int:
        """How many values this instruction pops with the given operand values."""
        factor, at, const = _pop_rules[self.name]
        return const if at < 0 else factor * args[at] + const

    def stack_delta(self, args: tuple[int, ...]) -> tuple[int, int]:
        """(pops, pushes) for this instruction with the given operand values."""
        return self.pops_of(args), self.pushes

    def taken_delta(self, args: tuple[int, ...]) -> int:
        """A jump: the change of stack depth when the jump is taken."""
        assert self.taken_pushes is not None, f"{self.name} is not a jump"
        return self.taken_pushes - self.pops_of(args)


def _pop_rule(op: Op) -> tuple[int, int, int]:
    """Read the pops column (a number, or `[F*]NAME[+C]` over an operand) into a pop_rule once."""
    if isinstance(op.pops, int):
        return 0, -1, op.pops
    term, _, const = op.pops.replace(" ", "").partition("+")
    factor, _, name = term.rpartition("*")
    names = [n for n, _ in op.operands]
    assert name in names, f"isa: {op.name}'s pops names no operand: {op.pops!r}"
    return int(factor or 1), names.index(name), int(const or 0)


def _op(name: str, code: int, operands: str, pops: int | str, pushes: int, effect: str, doc: str,
        **flow: object) -> Op:
    """One table row; `flow` sets the keyword columns of Op (falls, taken_pushes, slot_in, slot_out)."""
    ops = tuple(tuple(p.split(":")) for p in operands.split()) if operands else ()
    roles = tuple(ROLES[n] for n, _ in ops)
    return Op(name, code, ops, pops, pushes, effect, doc, roles, **flow)  # type: ignore[arg-type]


def _fuse(name: str, code: int, parts: str) -> Op:
    """A superinstruction row: every column is derived from its parts (instructions of the
    table above it, in order; only the last may jump), so it says nothing of its own but
    its name and number. Its operands are the parts' operands in order (a repeated
    operand name gets a 2)."""
    ops = [_BASE[p] for p in parts.split()]
    assert len(ops) >= 2 and all(not o.parts and o.falls and not o.writes_slot for o in ops), name
    assert all(not o.is_jump for o in ops[:-1]) and all(isinstance(o.pops, int) for o in ops), name
    operands: list[tuple[str, str]] = []
    for o in ops:
        for n, kind in o.operands:
            operands.append((n + "2" if any(n == m for m, _ in operands) else n, kind))
    depth = low = 0  # stack height against the start, and its lowest point
    for o in ops[:-1]:
        depth -= int(o.pops)
        low = min(low, depth)
        depth += o.pushes
    last = ops[-1]
    low = min(low, depth - int(last.pops))
    slots = {o.slot_in for o in ops if o.slot_in}
    assert len(slots) <= 1, name
    taken = None if last.taken_pushes is None else depth - int(last.pops) + last.taken_pushes - low
    names = iter(n for n, _ in operands)
    doc = "; ".join(o.name + "".join(f" {next(names)}" for _ in o.operands) for o in ops)
    return Op(name, code, tuple(operands), -low, depth - int(last.pops) + last.pushes - low,
              f"({'; '.join(o.effect.strip('() ') for o in ops)})", f"superinstruction: {doc}",
              tuple(r for o in ops for r in o.roles), last.falls, taken, slots.pop() if slots else None,
              None, tuple(o.name for o in ops))


# fmt: off
_BASE_TABLE: tuple[Op, ...] = (
    # constants and stack (seed 000: PUSH_CONST..PUSH_FLS)
    _op("PUSH_CONST",   0x01, "k:u16", 0, 1, "( -- val)", "push constant k"),
    _op("PUSH_NIL",     0x02, "", 0, 1, "( -- nil)", "push nil"),
    _op("PUSH_TRU",     0x03, "", 0, 1, "( -- tru)", "push tru"),
    _op("PUSH_FLS",     0x04, "", 0, 1, "( -- fls)", "push fls"),
    _op("POP",          0x05, "", 1, 0, "(v -- )", "discard the top value"),
    _op("DUP",          0x06, "", 1, 2, "(v -- v v)", "duplicate the top value"),
    _op("DUP2",         0x07, "", 2, 4, "(a b -- a b a b)", "duplicate the top two values"),
    # variables (seed 000: LOAD_LOCAL..STORE_GLOBAL)
    _op("LOAD_LOCAL",   0x10, "slot:u16", 0, 1, "( -- val)", "push local slot; error if not yet assigned",
        slot_in="value"),
    _op("STORE_LOCAL",  0x11, "slot:u16", 1, 0, "(val -- )", "store into local slot",
        slot_in="noncell", slot_out="value"),
    _op("LOAD_GLOBAL",  0x12, "name:u16", 0, 1, "( -- val)", "push module global or builtin named name"),
    _op("STORE_GLOBAL", 0x13, "name:u16", 1, 0, "(val -- )", "store into module global name"),
    _op("LOAD_UPVAL",   0x14, "idx:u16", 0, 1, "( -- val)", "push captured variable idx of the running closure"),
    _op("LOAD_CELL",    0x15, "slot:u16", 0, 1, "( -- val)", "push the value in the cell held by local slot",
        slot_in="cell"),
    _op("STORE_CELL",   0x16, "slot:u16", 1, 0, "(val -- )", "store into the cell held by local slot",
        slot_in="cell"),
    _op("MAKE_CELL",    0x17, "slot:u16", 0, 0, "( -- )", "wrap local slot in a fresh cell (for capture by reference)",
        slot_in="value", slot_out="cell"),
    # calls (seed 000: CALL, CALL_TAIL, RET)
    _op("CALL",         0x20, "argc:u8", "argc+1", 1, "(fn a0..an -- ret)", "call fn with argc arguments"),
    _op("CALL_TAIL",    0x21, "argc:u8", "argc+1", 1, "(fn a0..an -- ret)", "tail call: the callee replaces this frame"),
    _op("RET",          0x22, "", 1, 0, "(val -- )", "return val to the caller",
        falls=False),
    # jumps (seed 000: JUMP, JUMP_IF, JUMP_UNLESS)
    _op("JUMP",         0x30, "off:i16", 0, 0, "( -- )", "jump by off",
        falls=False, taken_pushes=0),
    _op("JUMP_IF",      0x31, "off:i16", 1, 0, "(cond -- )", "jump by off if cond is truthy",
        taken_pushes=0),
    _op("JUMP_UNLESS",  0x32, "off:i16", 1, 0, "(cond -- )", "jump by off if cond is falsy",
        taken_pushes=0),
    _op("JUMP_IF_NIL",  0x33, "off:i16", 1, 1, "(v -- v)", "jump by off, keeping v, if v is nil (optional chaining)",
        taken_pushes=1),
    # iteration: the iterator lives in a hidden local slot
    _op("ITER",         0x38, "slot:u16", 1, 0, "(v -- )", "store an iterator over v's elements/chars/keys in slot",
        slot_in="noncell", slot_out="iter"),
    _op("ITER2",        0x39, "slot:u16", 1, 0, "(v -- )", "store an iterator over v's (index, element) or (key, value) pairs",
        slot_in="noncell", slot_out="pairs"),
    _op("ITER_RANGE",   0x3A, "slot:u16", 2, 0, "(a b -- )", "store an iterator over the integers a..b (no list is built)",
        slot_in="noncell", slot_out="iter"),
    _op("FOR_NEXT",     0x3B, "slot:u16 off:i16", 0, 1, "( -- v)", "push the next item of iterator slot, or jump by off when done",
        slot_in="iter", taken_pushes=0),
    _op("FOR_NEXT2",    0x3C, "slot:u16 off:i16", 0, 2, "( -- k v)", "push the next pair of iterator slot, or jump by off when done",
        slot_in="pairs", taken_pushes=0),
    # arithmetic (seed 000: ADD..MOD)
    _op("ADD",          0x40, "", 2, 1, "(a b -- a+b)", "add numbers, concatenate lists, or concatenate with a string"),
    _op("SUB",          0x41, "", 2, 1, "(a b -- a-b)", "subtract"),
    _op("MUL",          0x42, "", 2, 1, "(a b -- a*b)", "multiply"),
    _op("DIV",          0x43, "", 2, 1, "(a b -- a/b)", "true division, always a float"),
    _op("MOD",          0x44, "", 2, 1, "(a b -- a%b)", "modulo with the sign of the divisor"),
    _op("NEG",          0x45, "", 1, 1, "(a -- -a)", "negate a number"),
    _op("NOT",          0x46, "", 1, 1, "(a -- bool)", "tru if a is falsy, else fls"),
    _op("RANGE",        0x47, "", 2, 1, "(a b -- list)", "the inclusive list of integers from a to b"),
    _op("CONCAT",       0x48, "n:u16", "n", 1, "(v1..vn -- str)", "str() of each value, concatenated (interpolation)"),
    # comparison (seed 000: EQ..GE)
    _op("EQ",           0x50, "", 2, 1, "(a b -- a==b)", "structural equality"),
    _op("NEQ",          0x51, "", 2, 1, "(a b -- a!=b)", "structural inequality"),
    _op("LT",           0x52, "", 2, 1, "(a b -- a<b)", "less than (numbers or strings)"),
    _op("GT",           0x53, "", 2, 1, "(a b -- a>b)", "greater than"),
    _op("LE",           0x54, "", 2, 1, "(a b -- a<=b)", "less or equal"),
    _op("GE",           0x55, "", 2, 1, "(a b -- a>=b)", "greater or equal"),
    # containers (seed 000: MAKE_LIST..SET_IDX)
    _op("MAKE_LIST",    0x60, "n:u16", "n", 1, "(a1..an -- list)", "a list of the top n values"),
    _op("MAKE_OBJ",     0x61, "n:u16", "2*n", 1, "(k1 v1..kn vn -- obj)", "an object of the top n key/value pairs"),
    _op("GET_IDX",      0x62, "", 2, 1, "(obj key -- val)", "index a list, string or object"),
    _op("SET_IDX",      0x63, "", 3, 1, "(obj key val -- obj)", "set an index in place; leaves obj"),
    _op("GET_FIELD",    0x64, "name:u16", 1, 1, "(obj -- val)", "read field name (nil when missing)"),
    _op("SET_FIELD",    0x65, "name:u16", 2, 1, "(obj val -- obj)", "set field name in place; leaves obj"),
    # functions and modules (seed 000: MAKE_CLOSURE)
    _op("MAKE_CLOSURE", 0x70, "fn:u16", 0, 1, "( -- fn)", "a closure of function fn capturing its upvalues"),
    _op("USE",          0x71, "mod:u16", 0, 1, "( -- obj)", "run module mod once, push its module object"),
    _op("IMPORT_ALL",   0x72, "", 1, 0, "(obj -- )", "copy a module object's fields into this module's globals"),
    # host (seed 000: SYSCALL)
    _op("SYSCALL",      0xF0, "name:u16 argc:u8", "argc", 1, "(a1..an -- result)", "call the host builtin named name directly"),
)
_BASE = {op.name: op for op in _BASE_TABLE}

# Superinstructions (seed 003's fused instructions): the commonest runs of the
# instructions above, measured on lib/ and bench/ (docs/superinstructions.md).
# The compilers emit one wherever its parts follow each other with no jump
# target and no new source line between them (seedc/emit.py fuse,
# compiler.ilu fuse); engines run it as one step or as its parts.
TABLE: tuple[Op, ...] = _BASE_TABLE + (
    _fuse("LOAD_LOCAL2",      0x80, "LOAD_LOCAL LOAD_LOCAL"),
    _fuse("LOAD_LOCAL_CONST", 0x81, "LOAD_LOCAL PUSH_CONST"),
    _fuse("LOAD_LOCAL_FIELD", 0x82, "LOAD_LOCAL GET_FIELD"),
    _fuse("EQ_JUMP_UNLESS",   0x88, "EQ JUMP_UNLESS"),
    _fuse("NEQ_JUMP_UNLESS",  0x89, "NEQ JUMP_UNLESS"),
    _fuse("LT_JUMP_UNLESS",   0x8A, "LT JUMP_UNLESS"),
    _fuse("GT_JUMP_UNLESS",   0x8B, "GT JUMP_UNLESS"),
    _fuse("LE_JUMP_UNLESS",   0x8C, "LE JUMP_UNLESS"),
    _fuse("GE_JUMP_UNLESS",   0x8D, "GE JUMP_UNLESS"),
)
# fmt: on

BY_NAME: dict[str, Op] = {op.name: op for op in TABLE}
BY_CODE: dict[int, Op] = {op.code: op for op in TABLE}

# The superinstructions, in the order the compilers try them, and by the name of their first part.
FUSIONS: tuple[Op, ...] = tuple(op for op in TABLE if op.parts)
FUSIONS_FROM: dict[str, tuple[Op, ...]] = {
    first: tuple(op for op in FUSIONS if op.parts[0] == first) for first in dict.fromkeys(op.parts[0] for op in FUSIONS)}

# The infix operator of each binary operation, read from its effect, `(a b -- a+b)`: the JIT's
# recorder and trace compiler know an operation by its operator.
OPERATOR: dict[str, str] = {op.name: m.group(1) for op in TABLE
                            if (m := re.fullmatch(r"\(a b -- a(\S+)b\)", op.effect))}

# Opcode numbers by name, for emitters and the VM: OPC["ADD"] == 0x40.
OPC: dict[str, int] = {op.name: op.code for op in TABLE}

# Each opcode's pop_rule, computed once from the table.
_pop_rules: dict[str, tuple[int, int, int]] = {op.name: _pop_rule(op) for op in TABLE}


def _check_table() -> None:
    """Refuse to import a table with duplicate names or numbers."""
    assert len(BY_NAME) == len(TABLE), "duplicate opcode name"
    assert len(BY_CODE) == len(TABLE), "duplicate opcode number"
    assert all(0 < op.code < 256 for op in TABLE)
    assert WIDE not in BY_CODE, "the WIDE prefix number is taken by an opcode"
    for op in TABLE:
        kinds = [k for _, k in op.operands]
        # A jump offset is the last operand, the only i16, and only jumps say what the taken path pushes.
        assert ("jump" in op.roles) == ("i16" in kinds) == (op.taken_pushes is not None), op.name
        assert op.role_at("jump") in (-1, len(op.roles) - 1), op.name
        # The slot columns belong to the instructions with a local slot operand, and name slot kinds.
        assert ("slot" in op.roles) == (op.slot_in is not None), op.name
        assert op.slot_in in (None, "noncell", *SLOT_KINDS) and op.slot_out in (None, *SLOT_KINDS), op.name
        # Two slot operands only in a superinstruction that reads both (LOAD_LOCAL2).
        assert op.roles.count("slot") <= 1 or (op.parts and op.slot_out is None), op.name


_check_table()
