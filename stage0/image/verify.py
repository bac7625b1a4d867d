"""Checks of an Image in memory: instruction decoding, operand ranges and the
flow analysis of stack depth and local-slot kinds.

The ILBC reader runs `validate` on every image it loads, and the writer runs
it on every image it writes, so the VM can trust an Image: every index is in
range, every jump lands on an instruction, and the operand stack of every
function has one known depth at every reachable instruction, and every
instruction that uses a local slot finds there the kind of thing it needs (a
value, a cell, an iterator or a pair iterator), so no host object ever
reaches a program as a value. A bad image raises ImageError with a one-line
message naming the function and offset.

What each opcode's operands stand for, how control leaves it and what it
needs in its slot all come from the ISA table. The flow analysis's results
(the depth at every reachable offset, the block leaders) stay with the
function as FuncDef.flow, so the fast tier does not walk the code again.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable

from stage0 import isa
from stage0.errors import ImageError
from stage0.host.registry import CAPS
from stage0.image.model import UPVAL_FROM_CELL, UPVAL_FROM_UPVAL, CodeFlow, FuncDef, Image
from stage0.values import quote

# (offset, opcode, operand values). A jump operand is the signed offset of the
# target from the end of the instruction's short form, so the target is
# `offset + op.size + operand` whether or not a WIDE prefix was folded in.
Instr = tuple[int, int, tuple[int, ...]]

# Slot kinds. The flow analysis keeps, for each local slot, the set of kinds
# it may hold (a bit set, _KIND_BITS bits per slot, all slots packed in one
# int so that merging two states at a join is one `|`). A slot with more than
# one kind is the "conflict" state: only an instruction that overwrites the
# slot may touch it. An unset slot counts as a value: every instruction that
# reads a value slot (LOAD_LOCAL, MAKE_CELL then LOAD_CELL) checks for unset.
# Each kind of the table (isa.SLOT_KINDS) is one bit, in table order.
_KIND_BIT = {kind: 1 << i for i, kind in enumerate(isa.SLOT_KINDS)}
VALUE, CELL = _KIND_BIT["value"], _KIND_BIT["cell"]
_KIND_BITS = len(isa.SLOT_KINDS)
_KIND_MASK = (1 << _KIND_BITS) - 1
_KIND_WORDS = tuple((_KIND_BIT[k], words) for k, words in isa.SLOT_KIND_WORDS.items())
_NOT_CELL = _KIND_MASK & ~CELL

# The table's slot kind names as bits. "noncell" (anything but a cell) is what
# an instruction that overwrites the slot accepts: a cell is never overwritten
# or re-wrapped, since the compilers make one for the whole life of a captured
# variable (MAKE_CELL in the prologue), and closures share it.
_KIND_OF = {**_KIND_BIT, "noncell": _NOT_CELL}


@dataclass(frozen=True)
class _Spec:
    """What the verifier needs of one opcode, computed once (isa.Op recomputes
    size and evals its pops formula on every call)."""

    op: isa.Op
    layout: struct.Struct
    size: int
    wide_layout: struct.Struct | None      # operands after a WIDE prefix; None: WIDE not allowed
    pops: Callable[[tuple[int, ...]], int]
    indexed: tuple[tuple[int, str], ...]   # (operand position, role) of index operands
    branch: int | None                     # values pushed on the taken path; None: not a jump
    slot_rule: tuple[tuple[int, ...], int, int] | None  # (slot operand positions, kinds they may hold
    #                                   before, kind they hold after or 0: unchanged); None: no slot operand


def _pops_fn(op: isa.Op) -> Callable[[tuple[int, ...]], int]:
    """A fast pops(args) for op."""
    factor, at, const = op.pop_rule
    if at < 0:
        return lambda args: const
    return lambda args: factor * args[at] + const


def _spec(op: isa.Op) -> _Spec:
    """The _Spec of op, from its row of the ISA table."""
    for role in op.roles:
        # A new role needs a decision here (is it an index? into what?),
        # so fail loudly instead of leaving it unchecked.
        assert role in isa.INDEX_ROLES or role in ("count", "jump"), f"verify.py: unknown role {role!r} of {op.name}"
    layout = struct.Struct("<" + "".join(isa.STRUCT_CODES[kind] for _, kind in op.operands))
    indexed = tuple((i, role) for i, role in enumerate(op.roles) if role in isa.INDEX_ROLES)
    wide = None
    if op.can_widen:
        wide = struct.Struct("<" + "".join(isa.WIDE_STRUCT_CODES[kind] for _, kind in op.operands))
    return _Spec(op, layout, op.size, wide, _pops_fn(op), indexed, op.taken_pushes, _slot_rule(op))


def _slot_rule(op: isa.Op) -> tuple[tuple[int, ...], int, int] | None:
    """op's slot columns as bits: (operand positions, kinds allowed before, kind after or 0)."""
    if op.slot_in is None:
        return None
    return op.slot_positions, _KIND_OF[op.slot_in], _KIND_OF[op.slot_out] if op.slot_out else 0


def _build_table() -> list[_Spec | None]:
    """The decoding table indexed by opcode byte (None: no such opcode)."""
    table: list[_Spec | None] = [None] * 256
    for op in isa.TABLE:
        table[op.code] = _spec(op)
    return table


_SPECS = _build_table()
_MAKE_CLOSURE = isa.OPC["MAKE_CLOSURE"]
_WIDE = isa.WIDE
_USE = isa.OPC["USE"]
_IMPORT_ALL = isa.OPC["IMPORT_ALL"]
# By opcode byte: the instruction ends a basic block; it is a jump.
_ENDS_BLOCK = [spec is not None and spec.op.ends_block for spec in _SPECS]
_JUMPS = [spec is not None and spec.op.is_jump for spec in _SPECS]
# Each opcode's slot rule by opcode byte (None: the instruction has no slot operand).
_RULES = [None if spec is None else spec.slot_rule for spec in _SPECS]


def decode(code: bytes) -> list[Instr]:
    """Split code into (offset, opcode, operands), a WIDE prefix folded into the
    instruction it widens; ImageError on an unknown or cut-off instruction."""
    out: list[Instr] = []
    pos, end = 0, len(code)
    while pos < end:
        if code[pos] == _WIDE:
            instr, size = _decode_wide(code, pos)
        else:
            spec = _SPECS[code[pos]]
            if spec is None:
                raise ImageError(f"unknown opcode 0x{code[pos]:02X} at offset {pos}")
            if pos + spec.size > end:
                raise ImageError(f"{spec.op.name} at offset {pos} is cut off by the end of the code")
            instr, size = (pos, code[pos], spec.layout.unpack_from(code, pos + 1)), spec.size
        out.append(instr)
        pos += size
    return out


def _decode_wide(code: bytes, pos: int) -> tuple[Instr, int]:
    """The instruction a WIDE prefix at pos widens, and its size with the prefix.
    Refuses a prefix at the end, before an instruction it cannot widen, and
    before operands that fit the short form (each program has one encoding)."""
    if pos + 1 >= len(code):
        raise ImageError(f"WIDE at offset {pos} is cut off by the end of the code")
    spec = _SPECS[code[pos + 1]]
    if spec is None or spec.wide_layout is None:
        what = spec.op.name if spec else "WIDE" if code[pos + 1] == isa.WIDE else f"0x{code[pos + 1]:02X}"
        raise ImageError(f"WIDE at offset {pos} before {what}, which has no u16 or i16 operand")
    size = spec.op.wide_size
    if pos + size > len(code):
        raise ImageError(f"WIDE {spec.op.name} at offset {pos} is cut off by the end of the code")
    args = spec.wide_layout.unpack_from(code, pos + 2)
    if spec.branch is not None:  # the offset as if from the end of the short form
        args = args[:-1] + (args[-1] + size - spec.size,)
    if not spec.op.needs_wide(args):
        raise ImageError(f"WIDE {spec.op.name} at offset {pos}: the operands fit the short form")
    return (pos, code[pos + 1], args), size


def stack_pops(opcode: int, args: tuple[int, ...]) -> int:
    """How many values the instruction pops (the same numbers as isa.Op.stack_delta)."""
    spec = _SPECS[opcode]
    if spec is None:
        raise ImageError(f"unknown opcode 0x{opcode:02X}")
    return spec.pops(args)


def verify_code(func: FuncDef, image: Image) -> int:
    """Check func's code and line table against image; return its maximum stack depth.
    The analysis (depth at every offset, block leaders) is kept as func.flow."""
    return _verify(func, image, _label(func, image, None))


def code_flow(func: FuncDef, image: Image) -> CodeFlow:
    """func.flow, verifying func first when it was not (or its code changed since)."""
    if func.flow is None or func.flow.code is not func.code:
        verify_code(func, image)
    assert func.flow is not None
    return func.flow


def _label(func: FuncDef, image: Image, index: int | None) -> str:
    """`function #3 "name"` for error messages (the name only when it is in range)."""
    head = "function" if index is None else f"function #{index}"
    if 0 <= func.name < len(image.names):
        return f"{head} {quote(image.names[func.name])}"  # quoted: a name may hold a newline
    return head


def _verify(func: FuncDef, image: Image, label: str) -> int:
    """verify_code with the function named by label in every message."""
    try:
        instrs = decode(func.code)
        if not instrs:
            raise ImageError("has no code")
        starts = {off for off, _, _ in instrs}
        limits = _limits(func, image)
        targets: set[int] = set()
        for off, opcode, args in instrs:
            target = _check_operands(off, opcode, args, limits, starts)
            if target is not None:
                targets.add(target)
            if opcode == _MAKE_CLOSURE:
                _check_capture(off, image.funcs[args[0]], func)
        _check_imports(instrs, targets)
        _check_lines(func, starts)
        func.flow = _flow(instrs, func, image)
        return func.flow.max_depth
    except ImageError as e:
        raise ImageError(f"{label}: {e}") from None


def _limits(func: FuncDef, image: Image) -> dict[str, int]:
    """The exclusive upper bound of each indexing operand within this function."""
    return {
        "const": len(image.consts), "name": len(image.names), "func": len(image.funcs),
        "module": len(image.modules), "slot": func.nlocals, "upval": len(func.upvals),
    }


def _check_operands(off: int, opcode: int, args: tuple[int, ...],
                    limits: dict[str, int], starts: set[int]) -> int | None:
    """Every index in range; a jump target on an instruction boundary. Returns
    the jump target (None: not a jump)."""
    spec = _SPECS[opcode]
    assert spec is not None  # decode() vetted the opcode
    for i, role in spec.indexed:
        if args[i] >= limits[role]:
            raise ImageError(f"{spec.op.name} at offset {off}: {isa.INDEX_ROLES[role]} {args[i]} "
                             f"out of range (have {limits[role]})")
    if spec.branch is not None:
        target = off + spec.size + args[-1]
        if target not in starts:
            raise ImageError(f"{spec.op.name} at offset {off} jumps to {target}, not the start of an instruction")
        return target
    return None


def _check_capture(off: int, target: FuncDef, parent: FuncDef) -> None:
    """A closure may only capture cells and upvalues the creating frame has."""
    for kind, idx in target.upvals:
        if kind == UPVAL_FROM_CELL and idx >= parent.nlocals:
            raise ImageError(f"MAKE_CLOSURE at offset {off} captures local slot {idx}, "
                             f"but this function has {parent.nlocals} locals")
        if kind == UPVAL_FROM_UPVAL and idx >= len(parent.upvals):
            raise ImageError(f"MAKE_CLOSURE at offset {off} captures upvalue {idx}, "
                             f"but this function has {len(parent.upvals)} upvalues")


def _check_imports(instrs: list[Instr], targets: set[int]) -> None:
    """IMPORT_ALL only right after a USE, in the same basic block (what both
    compilers emit for `use "file"`): so its operand is always a module object."""
    prev = -1
    for off, opcode, _ in instrs:
        if opcode == _IMPORT_ALL and (prev != _USE or off in targets):
            raise ImageError(f"IMPORT_ALL at offset {off} does not directly follow a USE")
        prev = opcode


def _check_lines(func: FuncDef, starts: set[int]) -> None:
    """Line-table offsets strictly increase and each one starts an instruction."""
    prev = -1
    for off, _line in func.lines:
        if off <= prev:
            raise ImageError(f"line table offset {off} does not increase (after {prev})")
        if off not in starts:
            raise ImageError(f"line table offset {off} is not the start of an instruction")
        prev = off


def _flow(instrs: list[Instr], func: FuncDef, image: Image) -> CodeFlow:
    """Walk every path from offset 0, tracking stack depth and slot kinds;
    return the depths, the block leaders and the maximum depth seen. (One
    loop, kept inline: it runs on every instruction of every image loaded.)"""
    at = {off: i for i, (off, _, _) in enumerate(instrs)}
    size = len(func.code)
    ends = [off for off, _, _ in instrs[1:]] + [size]  # where each instruction ends
    depth = {0: 0}
    # Entry: parameters hold values, the other slots are unset (a value, too).
    kinds_at = {0: (1 << _KIND_BITS * func.nlocals) // _KIND_MASK * VALUE}
    work, deepest = [0], 0
    while work:
        off = work.pop()
        i = at[off]
        _, opcode, args = instrs[i]
        kinds = kinds_at[off]
        rule = _RULES[opcode]
        if rule is not None:
            for at_slot in rule[0]:
                slot = args[at_slot]
                shift = slot * _KIND_BITS
                if kinds >> shift & _KIND_MASK & ~rule[1]:
                    _expect(off, opcode, slot, kinds, rule[1])
                if rule[2]:
                    kinds = kinds & ~(_KIND_MASK << shift) | rule[2] << shift
        elif opcode == _MAKE_CLOSURE:
            _check_cells(off, image.funcs[args[0]], kinds)
        for nxt, d in _successors(off, opcode, args, depth[off], ends[i]):
            if nxt >= size:
                raise ImageError(f"code falls off the end after offset {off}")
            seen = depth.get(nxt)
            if seen is None:
                depth[nxt] = d
                kinds_at[nxt] = kinds
                deepest = max(deepest, d)
                work.append(nxt)
            elif seen != d:
                raise ImageError(f"stack depth {seen} and {d} meet at offset {nxt}")
            elif kinds_at[nxt] | kinds != kinds_at[nxt]:  # a slot gained a kind: walk on from here again
                kinds_at[nxt] |= kinds
                work.append(nxt)
    return CodeFlow(func.code, depth, _leaders(instrs, ends, depth), deepest, instrs)


def _leaders(instrs: list[Instr], ends: list[int], depth: dict[int, int]) -> frozenset[int]:
    """The reachable offsets that start a basic block: 0, and after each reachable
    instruction that ends a block, its jump target and the instruction after it."""
    leaders = {0}
    for (off, opcode, args), end in zip(instrs, ends):
        if _ENDS_BLOCK[opcode] and off in depth:
            if end in depth:
                leaders.add(end)
            if _JUMPS[opcode]:
                leaders.add(off + _SPECS[opcode].size + args[-1])  # type: ignore[union-attr]
    return frozenset(leaders)


def _check_cells(off: int, target: FuncDef, kinds: int) -> None:
    """Every local slot a closure captures holds a cell."""
    for kind, slot in target.upvals:
        if kind == UPVAL_FROM_CELL and kinds >> slot * _KIND_BITS & _KIND_MASK != CELL:
            _expect(off, _MAKE_CLOSURE, slot, kinds, CELL)


def _expect(off: int, opcode: int, slot: int, kinds: int, need: int) -> None:
    """ImageError unless every kind the slot may hold is among need."""
    name = isa.BY_CODE[opcode].name
    bad = kinds >> slot * _KIND_BITS & _KIND_MASK & ~need
    if bad:
        single = need & (need - 1) == 0  # one kind
        what = f"not {_kind_words(need)}" if single else f"which {name} may not overwrite"
        raise ImageError(f"{name} at offset {off}: local slot {slot} may hold {_kind_words(bad)}, {what}")


def _kind_words(kinds: int) -> str:
    """`a value or a cell` for a set of slot kinds."""
    return " or ".join(word for kind, word in _KIND_WORDS if kinds & kind)


def _successors(off: int, opcode: int, args: tuple[int, ...], d: int, nxt: int) -> list[tuple[int, int]]:
    """(next offset, stack depth there) for each way control leaves the instruction at off,
    which ends at nxt."""
    spec = _SPECS[opcode]
    assert spec is not None  # decode() vetted the opcode
    op = spec.op
    pops = spec.pops(args)
    if d < pops:
        raise ImageError(f"stack underflow at offset {off}: {op.name} pops {pops}, depth is {d}")
    if spec.branch is None and not op.falls:  # leaves the function: nothing may stay behind
        if d != pops:
            raise ImageError(f"{op.name} at offset {off} with stack depth {d} (must be {pops})")
        return []
    fall = (nxt, d - pops + op.pushes)
    if spec.branch is None:
        return [fall]
    taken = (off + spec.size + args[-1], d - pops + spec.branch)
    return [fall, taken] if op.falls else [taken]


def validate(image: Image) -> None:
    """Check everything the VM relies on; ImageError on the first problem."""
    for i, func in enumerate(image.funcs):
        _check_func_header(i, func, image)
    for i, func in enumerate(image.funcs):
        _verify(func, image, _label(func, image, i))
    _check_modules(image)


def _check_func_header(i: int, func: FuncDef, image: Image) -> None:
    """Name index, arity within the locals, upvalue kinds."""
    if not 0 <= func.name < len(image.names):
        raise ImageError(f"function #{i}: name index {func.name} out of range (have {len(image.names)})")
    label = _label(func, image, i)
    if func.arity > func.nlocals:
        raise ImageError(f"{label}: arity {func.arity} exceeds its {func.nlocals} locals")
    for kind, _idx in func.upvals:
        if kind not in (UPVAL_FROM_CELL, UPVAL_FROM_UPVAL):
            raise ImageError(f"{label}: unknown upvalue kind {kind} (must be 0 or 1)")
    for what, names, want in (("local", func.local_names, func.nlocals), ("upvalue", func.upval_names,
                                                                          len(func.upvals))):
        if len(names) not in (0, want):
            raise ImageError(f"{label}: {len(names)} {what} names for {want} {what}s")
        if any(not 0 <= n < len(image.names) for n in names):
            raise ImageError(f"{label}: {what} name index out of range (have {len(image.names)})")


def _check_modules(image: Image) -> None:
    """Module names, files and main functions in range; unique keys; a valid entry."""
    n_names, n_funcs = len(image.names), len(image.funcs)
    keys: set[str] = set()
    for i, mod in enumerate(image.modules):
        named = [("name", mod.name), ("file", mod.file)]
        named += [("capability", c) for c in (*mod.requires, *mod.uses)]
        for what, idx in named:
            if not 0 <= idx < n_names:
                raise ImageError(f"module #{i}: {what} index {idx} out of range (have {n_names})")
        for c in (*mod.requires, *mod.uses):
            if image.names[c] not in CAPS:
                raise ImageError(f"module #{i}: unknown capability {quote(image.names[c])}")
        key = image.names[mod.name]
        if key in keys:
            raise ImageError(f"module #{i}: duplicate module {quote(key)}")
        keys.add(key)
        if not 0 <= mod.main < n_funcs:
            raise ImageError(f"module {quote(key)}: main function {mod.main} out of range (have {n_funcs})")
        main = image.funcs[mod.main]
        if main.arity != 0 or main.upvals:
            raise ImageError(f"module {quote(key)}: main function {mod.main} "
                             "must take no arguments and capture nothing")
    if not 0 <= image.entry < len(image.modules):
        raise ImageError(f"entry module {image.entry} out of range (have {len(image.modules)})")
