"""Number primitives (`__num_*`): integer division, bit operations, rounding.

Integers are exact; an argument documented as an integer may also be a
float with an integral value (2.0), like a list index. `__num_round` rounds
halves away from zero. Infinities and NaN pass through floor, ceil and
round unchanged, since they have no integer value.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from stage0.errors import RuntimeErr
from stage0.host.core import parse_num, want, want_int
from stage0.host.registry import HostContext, builtin
from stage0.values import fmt_num, is_num


def _ints(name: str, a: Any, b: Any) -> tuple[int, int]:
    """Both arguments as integers."""
    return want_int(name, a), want_int(name, b)


# The widest integer a shift may produce: 16 Mi bits (2 MiB).
MAX_SHIFT_BITS = 1 << 24


def _bits(op: Callable[[], int]) -> int:
    """Run a bit operation, turning Python's errors into runtime errors."""
    try:
        return op()
    except ValueError:
        raise RuntimeErr("negative shift count") from None
    except (MemoryError, OverflowError):
        raise RuntimeErr("number too large") from None


@builtin("__num_idiv", 2)
def idiv(ctx: HostContext, a: Any, b: Any) -> int:
    """Floor division of integers."""
    x, y = _ints("__num_idiv", a, b)
    if y == 0:
        raise RuntimeErr("division by zero")
    return x // y


@builtin("__num_and", 2)
def and_(ctx: HostContext, a: Any, b: Any) -> int:
    """Bitwise and of two integers."""
    x, y = _ints("__num_and", a, b)
    return _bits(lambda: x & y)


@builtin("__num_or", 2)
def or_(ctx: HostContext, a: Any, b: Any) -> int:
    """Bitwise or of two integers."""
    x, y = _ints("__num_or", a, b)
    return _bits(lambda: x | y)


@builtin("__num_xor", 2)
def xor_(ctx: HostContext, a: Any, b: Any) -> int:
    """Bitwise exclusive or of two integers."""
    x, y = _ints("__num_xor", a, b)
    return _bits(lambda: x ^ y)


@builtin("__num_shl", 2)
def shl_(ctx: HostContext, a: Any, b: Any) -> int:
    """The integer a shifted left by b bits."""
    x, y = _ints("__num_shl", a, b)
    if x and y > 0 and x.bit_length() + y > MAX_SHIFT_BITS:
        raise RuntimeErr("number too large")  # Python would try to build it, for minutes
    return _bits(lambda: x << y)


@builtin("__num_shr", 2)
def shr_(ctx: HostContext, a: Any, b: Any) -> int:
    """The integer a shifted right by b bits (rounding toward minus infinity)."""
    x, y = _ints("__num_shr", a, b)
    return _bits(lambda: x >> y)


def _integral(name: str, x: Any, fn: Callable[[float], int]) -> int | float:
    """Ints unchanged, finite floats through fn, inf and nan unchanged."""
    v = want(name, x, "num")
    if type(v) is int or not math.isfinite(v):
        return v
    return fn(v)


def _round_half_away(v: float) -> int:
    """Round to the nearest integer, halves away from zero."""
    if v < 0:
        return -_round_half_away(-v)
    f = math.floor(v)
    return f + 1 if v - f >= 0.5 else f


@builtin("__num_floor", 1)
def floor(ctx: HostContext, x: Any) -> int | float:
    """The largest integer <= x."""
    return _integral("__num_floor", x, math.floor)


@builtin("__num_ceil", 1)
def ceil(ctx: HostContext, x: Any) -> int | float:
    """The smallest integer >= x."""
    return _integral("__num_ceil", x, math.ceil)


@builtin("__num_round", 1)
def round_(ctx: HostContext, x: Any) -> int | float:
    """The nearest integer, halves away from zero."""
    return _integral("__num_round", x, _round_half_away)


@builtin("__num_sqrt", 1)
def sqrt(ctx: HostContext, x: Any) -> float:
    """The square root, as a float."""
    v = want("__num_sqrt", x, "num")
    if v < 0:
        raise RuntimeErr(f"square root of negative number {fmt_num(v)}")
    try:
        return math.sqrt(v)
    except OverflowError:
        raise RuntimeErr("number too large") from None


@builtin("__num_is_int", 1)
def is_int(ctx: HostContext, x: Any) -> bool:
    """Whether x is an integer or a float with an integral value."""
    return type(x) is int or (type(x) is float and x.is_integer())


@builtin("__num_parse", 1)
def parse(ctx: HostContext, s: Any) -> int | float | None:
    """Like num(s), but nil instead of an error."""
    if is_num(s):
        return s
    if type(s) is not str:
        return None
    try:
        return parse_num(s)
    except RuntimeErr:
        return None


@builtin("__num_isflt", 1)
def is_float(ctx: HostContext, x: Any) -> bool:
    """Whether a number is held as a float (2.0) rather than an exact integer (2)."""
    want("__num_isflt", x, "num")
    return type(x) is float
