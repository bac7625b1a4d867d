"""ilusm values on the Python host, and the operations every tier shares.

Representation: num is int or float (never bool), str is str, bl is bool,
nil is None, lst is list, obj is dict (insertion-ordered), buf is bytearray,
fn is Closure or Builtin. Python's own == and truthiness are close but not
right (True == 1, [True] == [1]), so equality, truthiness and printing live
here, written once, and the VM's fast paths fall back to these functions.
"""
from __future__ import annotations

import math
import re
import sys
from typing import Any, Callable

from stage0.errors import RuntimeErr
from stage0.hints import field_read

# Integers are exact at any size, so converting them to and from text must be
# too (CPython limits it to 4300 digits by default).
sys.set_int_max_str_digits(0)

RESERVED = frozenset("if whl fn use ret mat tru fls nil and or not brk cnt def".split())
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Unset:
    """The value of a local before its first assignment."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<unset>"


UNSET = Unset()


class Cell:
    """A captured local: closures share it, so they see later assignments."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v


class Closure:
    """A user function: its prototype, captured cells and defining module."""

    __slots__ = ("proto", "upvals", "module")

    def __init__(self, proto: Any, upvals: tuple[Cell, ...], module: Any) -> None:
        self.proto, self.upvals, self.module = proto, upvals, module

    @property
    def name(self) -> str:
        """The function's name (`anon` for lambdas)."""
        return str(self.proto.name)

    @property
    def arity(self) -> int:
        """Number of parameters."""
        return int(self.proto.arity)


class Builtin:
    """A host function; arity -1 means variadic."""

    __slots__ = ("name", "arity", "fn")

    def __init__(self, name: str, arity: int, fn: Callable[..., Any]) -> None:
        self.name, self.arity, self.fn = name, arity, fn


# ---- types and truth ---------------------------------------------------------

_TYPE_NAMES: dict[type, str] = {
    int: "num", float: "num", str: "str", bool: "bl", type(None): "nil",
    list: "lst", dict: "obj", bytearray: "buf", Closure: "fn", Builtin: "fn",
}


def type_name(v: Any) -> str:
    """The contract's short type name: num str bl nil lst obj fn buf."""
    return _TYPE_NAMES.get(type(v), "?")


def truthy(v: Any) -> bool:
    """Falsy: fls nil 0 0.0 "" [] {}; everything else (an empty buf too) is truthy."""
    if v is True:
        return True
    if v is False or v is None:
        return False
    if type(v) is bytearray:
        return True
    return bool(v)


def is_num(v: Any) -> bool:
    """True for numbers (ints and floats, not booleans)."""
    t = type(v)
    return t is int or t is float


# ---- printing ------------------------------------------------------------

def fmt_num(v: int | float) -> str:
    """Integers exactly; floats shortest round-trip without a trailing `.0`."""
    if type(v) is int:
        return str(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


def dump_num(v: int | float) -> str:
    """A number as the token and AST dumps show it: printed form, floats marked by `.0`."""
    text = fmt_num(v)
    if type(v) is float and text.lstrip("-").isdigit():
        text += ".0"
    return text


def to_str(v: Any) -> str:
    """`str(v)`: strings as they are, everything else in printed form."""
    if type(v) is str:
        return v
    return show(v)


def show(v: Any) -> str:
    """The printed form of a value as it appears inside a container."""
    out: list[str] = []
    _show(v, set(), out)
    return "".join(out)


def _show(v: Any, seen: set[int], out: list[str]) -> None:
    """Append the printed form of v to out; `seen` holds the containers being printed.

    One list of pieces and one set shared by every level keep a deeply nested
    value linear in time and memory.
    """
    t = type(v)
    if t is list or t is dict:
        _show_container(v, seen, out)
    elif t is str:
        out.append(quote(v))
    elif t is int or t is float:
        out.append(fmt_num(v))
    elif t is bool:
        out.append("tru" if v else "fls")
    elif v is None:
        out.append("nil")
    elif t is Closure or t is Builtin:
        out.append(f"<fn {v.name}/{'...' if v.arity < 0 else v.arity}>")
    elif t is bytearray:
        out.append(f"<buf {len(v)}>")
    else:
        out.append("<?>")


def _show_container(v: list[Any] | dict[str, Any], seen: set[int], out: list[str]) -> None:
    """Lists and objects; a container met again inside itself prints as [...] / {...}."""
    is_list = type(v) is list
    if id(v) in seen:
        out.append("[...]" if is_list else "{...}")
        return
    seen.add(id(v))
    if isinstance(v, list):
        out.append("[")
        for i, x in enumerate(v):
            out.append(", " if i else "")
            _show(x, seen, out)
        out.append("]")
    else:
        out.append("{")
        for i, (k, x) in enumerate(v.items()):
            out.append((", " if i else "") + show_key(k) + ": ")
            _show(x, seen, out)
        out.append("}")
    seen.discard(id(v))


def show_key(k: str) -> str:
    """Object keys print bare when they could be written bare in source."""
    if _IDENT.match(k) and k not in RESERVED:
        return k
    return quote(k)


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def quote(s: str) -> str:
    """Double-quote a string with the language's escapes."""
    out = []
    for ch in s:
        esc = _ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 32 or 127 <= ord(ch) < 160:  # C0, DEL and C1: the control characters
            out.append("\\u{%X}" % ord(ch))
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def byte_value(x: Any) -> int:
    """A value stored in a buf: an integer 0..255 (an integral float counts, as for indexes)."""
    if type(x) is float and x.is_integer():
        x = int(x)
    if type(x) is not int or not 0 <= x <= 255:
        raise RuntimeErr("a buf element must be an integer from 0 to 255")
    return x


# ---- equality ----------------------------------------------------------------

def eq(a: Any, b: Any, active: set[tuple[int, int]] | None = None) -> bool:
    """Structural equality: booleans never equal numbers; functions by identity.

    It never fails, even on containers that hold themselves: `active` holds the
    pairs being compared further up, and meeting one again adds no difference.
    """
    if a is b:
        return not (type(a) is float and a != a)
    ta, tb = type(a), type(b)
    if ta is bool or tb is bool or a is None or b is None:
        return False
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a == b)
    if ta is not tb:
        return False
    if ta is str or ta is bytearray:
        return bool(a == b)
    if (ta is list or ta is dict) and len(a) == len(b):
        return _eq_containers(a, b, set() if active is None else active)
    return False


def _eq_containers(a: Any, b: Any, active: set[tuple[int, int]]) -> bool:
    """Element-wise equality of two lists or two objects of the same length."""
    pair = (id(a), id(b))
    if pair in active:
        return True
    active.add(pair)
    # Plain loops, not all(<generator>): a generator frame would cost C stack per level.
    same = True
    if type(a) is list:
        for x, y in zip(a, b):
            if not eq(x, y, active):
                same = False
                break
    else:
        for k, v in a.items():
            if k not in b or not eq(v, b[k], active):
                same = False
                break
    active.discard(pair)
    return same


# ---- operators (slow paths) ------------------------------------------------

def add(a: Any, b: Any) -> Any:
    """`+`: numbers add, lists concatenate, a string on either side concatenates."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        try:
            return a + b
        except OverflowError:
            return _as_float(a) + _as_float(b)
    if ta is str or tb is str:
        return to_str(a) + to_str(b)
    if ta is list and tb is list:
        return a + b
    raise RuntimeErr(f"cannot add {type_name(a)} and {type_name(b)}")


def arith(op: str, a: Any, b: Any) -> Any:
    """`- * / %` on numbers, with the contract's errors."""
    if not (is_num(a) and is_num(b)):
        verb = {"-": "subtract", "*": "multiply", "/": "divide", "%": "mod"}[op]
        raise RuntimeErr(f"cannot {verb} {type_name(a)} and {type_name(b)}")
    try:
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            if b == 0:
                raise RuntimeErr("division by zero")
            return a / b
        if b == 0:
            raise RuntimeErr("division by zero")
        return a % b
    except OverflowError:
        # An integer too big for a float, met with a float: IEEE rules, as for float overflow.
        return arith(op, _as_float(a), _as_float(b))


def _as_float(x: int | float) -> float:
    """x as a float; an integer beyond the float range becomes +-inf."""
    try:
        return float(x)
    except OverflowError:
        return math.inf if x > 0 else -math.inf


def _whole(x: Any) -> Any:
    """An integral float as the integer it holds (5.0 -> 5); anything else unchanged."""
    return int(x) if type(x) is float and x.is_integer() else x


def neg(a: Any) -> Any:
    """Unary minus."""
    if not is_num(a):
        raise RuntimeErr(f"cannot negate {type_name(a)}")
    return -a


def compare(op: str, a: Any, b: Any) -> bool:
    """`< > <= >=`: numbers with numbers, strings with strings."""
    ok = (is_num(a) and is_num(b)) or (type(a) is str and type(b) is str)
    if not ok:
        raise RuntimeErr(f"cannot compare {type_name(a)} and {type_name(b)}")
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    return bool(a >= b)


def make_range(a: Any, b: Any) -> range:
    """The integers a..b inclusive, counting down when a > b (integral floats count)."""
    a, b = _whole(a), _whole(b)
    if type(a) is not int or type(b) is not int:
        raise RuntimeErr("range bounds must be integers")
    return range(a, b + 1) if a <= b else range(a, b - 1, -1)


# ---- indexing and fields -----------------------------------------------------

def _seq_index(v: list[Any] | str, i: Any) -> int:
    """Check an index into a list or string; negative counts from the end."""
    if type(i) is not int:
        if type(i) is float and i.is_integer():
            i = int(i)
        else:
            raise RuntimeErr(f"index must be an integer, got {type_name(i)}")
    n = len(v)
    j = i + n if i < 0 else i
    if not 0 <= j < n:
        raise RuntimeErr(f"index {i} out of range for length {n}")
    return j


def get_index(v: Any, i: Any) -> Any:
    """`v[i]` for lists, strings, objects and buffers."""
    t = type(v)
    if t is list or t is str or t is bytearray:
        return v[_seq_index(v, i)]
    if t is dict:
        if type(i) is not str:
            raise RuntimeErr(f"object keys must be strings, got {type_name(i)}")
        return v.get(i)
    if v is None:
        raise RuntimeErr("cannot index nil")
    raise RuntimeErr(f"cannot index {type_name(v)}")


def set_index(v: Any, i: Any, x: Any) -> None:
    """`v[i] = x` in place for lists, objects and buffers."""
    t = type(v)
    if t is list:
        v[_seq_index(v, i)] = x
    elif t is dict:
        if type(i) is not str:
            raise RuntimeErr(f"object keys must be strings, got {type_name(i)}")
        v[i] = x
    elif t is bytearray:
        v[_seq_index(v, i)] = byte_value(x)
    else:
        raise RuntimeErr(f"cannot set index of {type_name(v)}")


def get_field(v: Any, name: str) -> Any:
    """`v.name`: a missing field reads as nil; non-objects are an error."""
    if type(v) is dict:
        return v.get(name)
    raise RuntimeErr(field_read(name, type_name(v)))


def set_field(v: Any, name: str, x: Any) -> None:
    """`v.name = x` in place."""
    if type(v) is not dict:
        raise RuntimeErr(f"cannot set field '{name}' of {type_name(v)}")
    v[name] = x
