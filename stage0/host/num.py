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


# ---- elementary functions and formatting (the mth and fmt modules) --------------------------

def _real(name: str, f: Callable[..., float], *xs: Any) -> float:
    """f of numbers as a float; a domain error or an overflow raises a runtime error."""
    for x in xs:
        want(name, x, "num")
    try:
        return f(*(float(x) for x in xs))
    except ValueError:
        raise RuntimeErr(f"{name}: {', '.join(fmt_num(x) for x in xs)} is outside its domain") from None
    except OverflowError:
        raise RuntimeErr("number too large") from None


# One-argument float functions by name; each is the builtin __num_NAME.
FLOAT_FNS: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "log": math.log, "log10": math.log10, "log2": math.log2,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "asin": math.asin, "acos": math.acos, "atan": math.atan,
}


def _register_float(name: str, f: Callable[[float], float]) -> None:
    """Register __num_<name>(x) = f(x)."""
    full = f"__num_{name}"

    def fn(ctx: HostContext, x: Any) -> float:
        return _real(full, f, x)

    fn.__doc__ = f"{name}(x) as a float (math.{name}); outside its domain raises."
    builtin(full, 1)(fn)


for _name, _f in FLOAT_FNS.items():
    _register_float(_name, _f)


@builtin("__num_atan2", 2)
def atan2(ctx: HostContext, y: Any, x: Any) -> float:
    """The angle of the point (x, y) from the x axis, in radians (-pi to pi)."""
    return _real("__num_atan2", math.atan2, y, x)


@builtin("__num_pow", 2)
def pow_(ctx: HostContext, a: Any, b: Any) -> int | float:
    """a to the power b: exact for integers with an exponent of 0 or more, else a float."""
    want("__num_pow", a, "num")
    want("__num_pow", b, "num")
    if type(a) is int and type(b) is int and b >= 0:
        if abs(a) > 1 and b * a.bit_length() > MAX_SHIFT_BITS:
            raise RuntimeErr("number too large")
        return a ** b
    if a == 0 and b < 0:
        raise RuntimeErr("division by zero")
    return _real("__num_pow", math.pow, a, b)


@builtin("__num_fixed", 2)
def fixed(ctx: HostContext, x: Any, digits: Any) -> str:
    """x with exactly `digits` decimals (0 to 100), rounded half to even on its exact value."""
    import decimal

    want("__num_fixed", x, "num")
    d = want_int("__num_fixed", digits)
    if not 0 <= d <= 100:
        raise RuntimeErr(f"__num_fixed expects 0 to 100 decimals, got {d}")
    if type(x) is float and not math.isfinite(x):
        return fmt_num(x)
    with decimal.localcontext() as c:
        c.prec = 10_000
        return format(decimal.Decimal(x), f".{d}f")
