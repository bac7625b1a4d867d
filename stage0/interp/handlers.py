"""Opcode handlers for the instructions the VM loop does not inline.

Each handler is named after its opcode and has the signature
`op_NAME(vm, frame, stack, a, b)`: `frame` is `[closure, locals, stack, pc]`,
`a` and `b` the pre-resolved operands (see loader.py). Handlers never move
the pc or change frames; the loop keeps every control-flow opcode itself.
`build_table` maps opcode numbers to handlers once, from the ISA table, and
refuses to build if an opcode has neither a handler nor an inline case.
"""
from __future__ import annotations

from typing import Any, Callable

from stage0 import isa
from stage0.values import (
    Cell,
    Closure,
    arith,
    compare,
    eq,
    iter_items,
    iter_pairs,
    iter_range,
    make_obj,
    neg,
    range_list,
    set_field,
    set_index,
    to_str,
    truthy,
)

Handler = Callable[[Any, list[Any], list[Any], Any, Any], None]


def op_PUSH_TRU(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Push tru."""
    stack.append(True)


def op_PUSH_FLS(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Push fls."""
    stack.append(False)


def op_DUP2(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Duplicate the top two values."""
    stack.extend(stack[-2:])


def op_MAKE_CELL(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Wrap local slot a in a cell so closures share it."""
    fr[1][a] = Cell(fr[1][a])


def op_ITER(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Store an iterator over the popped value in slot a."""
    fr[1][a] = iter_items(stack.pop())


def op_ITER2(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Store an iterator over (index, element) or (key, value) pairs in slot a."""
    fr[1][a] = iter_pairs(stack.pop())


def op_ITER_RANGE(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Store an iterator over the integers lo..hi in slot a, without a list."""
    hi = stack.pop()
    fr[1][a] = iter_range(stack.pop(), hi)


def _binary(fn: Callable[[Any, Any], Any]) -> Handler:
    """A handler applying fn to the top two values."""

    def handler(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
        y = stack.pop()
        stack[-1] = fn(stack[-1], y)

    handler.__doc__ = fn.__doc__
    return handler


op_MUL = _binary(lambda x, y: arith("*", x, y))
op_DIV = _binary(lambda x, y: arith("/", x, y))
op_MOD = _binary(lambda x, y: arith("%", x, y))
op_NEQ = _binary(lambda x, y: not eq(x, y))
op_GT = _binary(lambda x, y: compare(">", x, y))
op_LE = _binary(lambda x, y: compare("<=", x, y))
op_GE = _binary(lambda x, y: compare(">=", x, y))
op_RANGE = _binary(range_list)


def op_NEG(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Negate the top value."""
    stack[-1] = neg(stack[-1])


def op_NOT(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Logical not: always tru or fls."""
    stack[-1] = not truthy(stack[-1])


def op_CONCAT(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Concatenate the str() of the top a values (string interpolation)."""
    parts = stack[-a:] if a else []
    del stack[len(stack) - a:]
    stack.append("".join(to_str(v) for v in parts))


def op_MAKE_LIST(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """A list of the top a values."""
    items = stack[-a:] if a else []
    del stack[len(stack) - a:]
    stack.append(items)


def op_MAKE_OBJ(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """An object of the top a key/value pairs."""
    flat = stack[-2 * a:] if a else []
    del stack[len(stack) - 2 * a:]
    stack.append(make_obj(a, flat))


def op_SET_IDX(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """obj[key] = val in place; leaves obj."""
    val = stack.pop()
    key = stack.pop()
    set_index(stack[-1], key, val)


def op_SET_FIELD(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """obj.a = val in place; leaves obj."""
    val = stack.pop()
    set_field(stack[-1], a, val)


def op_MAKE_CLOSURE(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """A closure of proto a, capturing cells of this frame or its own upvalues."""
    clo, locs = fr[0], fr[1]
    ups = tuple(locs[i] if kind == 0 else clo.upvals[i] for kind, i in a.upvals)
    stack.append(Closure(a, ups, clo.module))


def op_USE(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Run module a once and push its module object."""
    stack.append(vm.import_module(a))


def op_IMPORT_ALL(vm: Any, fr: list[Any], stack: list[Any], a: Any, b: Any) -> None:
    """Copy a module object's fields into this module's globals."""
    fr[0].module.globals.update(stack.pop())


def build_table(inline: frozenset[int]) -> list[Handler | None]:
    """Opcode number -> handler, from the ISA table; every opcode must be covered."""
    table: list[Handler | None] = [None] * 256
    for op in isa.TABLE:
        handler = globals().get("op_" + op.name)
        if handler is None and op.code not in inline:
            raise RuntimeError(f"opcode {op.name} has no handler")
        table[op.code] = handler
    return table
