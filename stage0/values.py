"""ilusm values on the Python host, and the operations every tier shares.

Representation: num is int or float (never bool), str is str, bl is bool,
nil is None, lst is list, obj is dict (insertion-ordered), buf is bytearray,
fn is Closure or Builtin. Python's own == and truthiness are close but not
right (True == 1, [True] == [1]), so equality, truthiness and printing live
here, written once, and the VM's fast paths fall back to these functions.
"""
from __future__ import annotations

import contextlib
import decimal
import math
import os
import re
import resource
import sys
from typing import Any, Callable, Iterator

from stage0.errors import OUT_OF_MEMORY, RuntimeErr
from stage0.hints import field_read

# Integers are exact at any size, so converting them to and from text must be
# too (CPython limits it to 4300 digits by default).
sys.set_int_max_str_digits(0)

# The reserved words of the language, in the contract's order. stage0/syntax.py gives them to the
# lexers as KEYWORDS; they are written here, at the bottom of the kernel, because printing an object
# key must quote them.
RESERVED = ("if", "whl", "fn", "use", "ret", "mat", "tru", "fls", "nil", "and", "or", "not", "brk", "cnt", "def")
_RESERVED_SET = frozenset(RESERVED)
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
    """A host function as registered (stage0/host/registry.py); arity -1 means variadic.

    `fn(ctx, *args)` is the one entry every engine calls; for a builtin that
    needs the capability `cap` it is the checked wrapper (None: a pure builtin).
    """

    __slots__ = ("name", "arity", "fn", "cap")

    def __init__(self, name: str, arity: int, fn: Callable[..., Any], cap: str | None = None) -> None:
        self.name, self.arity, self.fn, self.cap = name, arity, fn, cap


class GuestFn:
    """A function of a VM written in ilusm (lib/backend/ilusm_vm.ilu): to the host a value of
    type fn, printed with the guest's name and arity; `data` is that VM's own closure record.
    Only that VM calls it (see stage0/host/meta.py)."""

    __slots__ = ("name", "arity", "data")

    def __init__(self, name: str, arity: int, data: Any) -> None:
        self.name, self.arity, self.data = name, arity, data


# ---- types and truth ---------------------------------------------------------

_TYPE_NAMES: dict[type, str] = {
    int: "num", float: "num", str: "str", bool: "bl", type(None): "nil",
    list: "lst", dict: "obj", bytearray: "buf", Closure: "fn", Builtin: "fn", GuestFn: "fn",
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
        return str(v) if -_BIG_INT < v < _BIG_INT else int_text(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    r = repr(v)
    return r[:-2] if r.endswith(".0") else r


# Past this size CPython 3.11's str(int), quadratic and deaf to Ctrl-C, gives way
# to int_text (CPython 3.12 switches the same way, in its _pylong module).
_BIG_INT = 1 << 20_000
_LEAF_BITS = 4096


def int_text(n: int) -> str:
    """The decimal digits of n, by divide and conquer through `decimal`.

    libmpdec multiplies huge numbers subquadratically, so 16 million bits
    take about 1.5 s instead of minutes; the recursion runs in Python, so a
    Ctrl-C (KeyboardInterrupt) stops it between two steps.
    """
    m = abs(n)
    with decimal.localcontext() as ctx:
        ctx.prec, ctx.Emax, ctx.Emin = decimal.MAX_PREC, decimal.MAX_EMAX, decimal.MIN_EMIN
        ctx.traps[decimal.Inexact] = True  # every step is exact, or a bug shows
        text = str(_to_decimal(m, m.bit_length(), {}))
    return "-" + text if n < 0 else text


def _to_decimal(n: int, bits: int, pows: dict[int, decimal.Decimal]) -> decimal.Decimal:
    """n (< 2**bits) as a Decimal: its high and low halves converted apart, then joined."""
    if bits <= _LEAF_BITS:
        return decimal.Decimal(n)
    half = bits >> 1
    hi = n >> half
    return _to_decimal(n - (hi << half), half, pows) + _to_decimal(hi, bits - half, pows) * _pow2(half, pows)


def _pow2(w: int, pows: dict[int, decimal.Decimal]) -> decimal.Decimal:
    """2**w as a Decimal, remembered in pows: each level of _to_decimal asks for the same few."""
    r = pows.get(w)
    if r is None:
        if w <= _LEAF_BITS:
            r = decimal.Decimal(2) ** w
        elif w - 1 in pows:
            r = pows[w - 1] * 2
        else:
            r = _pow2(w >> 1, pows) * _pow2(w - (w >> 1), pows)
        pows[w] = r
    return r


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
    """The printed form of a value as it appears inside a container.

    An explicit stack instead of recursion: a value nested 200,000 deep
    prints like any other, in time and memory linear in its size, whatever
    the call-depth limit. `active` holds the containers being printed, so a
    container met again inside itself prints as [...] / {...}.
    """
    t = type(v)
    if t is not list and t is not dict:
        return _show_flat(v)
    out: list[str] = []
    active: set[int] = set()
    stack: list[tuple[int, Iterator[Any], str]] = []
    _enter(v, active, out, stack)
    while stack:
        x: Any = next(stack[-1][1], _END)
        t = type(x)
        if t is list or t is dict:
            _enter(x, active, out, stack)
        elif x is _END:
            key, _, close = stack.pop()
            out.append(close)
            active.discard(key)
        else:
            out.append(_show_flat(x))
    return "".join(out)


_END = object()  # marks a container's exhausted parts in `show`


def _enter(v: list[Any] | dict[str, Any], active: set[int], out: list[str],
           stack: list[tuple[int, Iterator[Any], str]]) -> None:
    """Open a container for `show` (its elements come from the stack's top), or print the cycle mark."""
    is_list = type(v) is list
    if id(v) in active:
        out.append("[...]" if is_list else "{...}")
        return
    active.add(id(v))
    out.append("[" if is_list else "{")
    parts = _list_parts(v, out) if isinstance(v, list) else _obj_parts(v, out)
    stack.append((id(v), parts, "]" if is_list else "}"))


def _list_parts(xs: list[Any], out: list[str]) -> Iterator[Any]:
    """A list's elements, writing the separator before each but the first."""
    for i, x in enumerate(xs):
        if i:
            out.append(", ")
        yield x


def _obj_parts(o: dict[str, Any], out: list[str]) -> Iterator[Any]:
    """An object's values, writing the separator and `key: ` before each."""
    for i, (k, x) in enumerate(o.items()):
        out.append((", " if i else "") + show_key(k) + ": ")
        yield x


def _show_flat(v: Any) -> str:
    """The printed form of anything but a list or an object."""
    t = type(v)
    if t is str:
        return quote(v)
    if t is int or t is float:
        return fmt_num(v)
    if t is bool:
        return "tru" if v else "fls"
    if v is None:
        return "nil"
    if t is Closure or t is Builtin or t is GuestFn:
        return f"<fn {v.name}/{'...' if v.arity < 0 else v.arity}>"
    if t is bytearray:
        return f"<buf {len(v)}>"
    return "<?>"


def show_key(k: str) -> str:
    """Object keys print bare when they could be written bare in source."""
    if _IDENT.match(k) and k not in _RESERVED_SET:
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

def eq(a: Any, b: Any) -> bool:
    """Structural equality: booleans never equal numbers; functions by identity.

    It never fails: containers nested any depth deep compare with an explicit
    stack (see _eq_deep), and containers that hold themselves terminate.
    NaN equals nothing, itself included, and a container compares element by
    element even with itself: `xs == xs` is fls when xs holds a nan.
    """
    r = _eq_flat(a, b)
    return _eq_deep(a, b) if isinstance(r, _Deeper) else r


class _Deeper:
    """_eq_flat's answer for two containers whose elements must be compared."""

    __slots__ = ()


_DEEPER = _Deeper()


def _eq_flat(a: Any, b: Any) -> bool | _Deeper:
    """Equality of a and b without looking inside containers (then _DEEPER)."""
    ta, tb = type(a), type(b)
    if a is b and ta is not float and ta is not list and ta is not dict:
        return True
    if ta is bool or tb is bool or a is None or b is None:
        return False
    if (ta is int or ta is float) and (tb is int or tb is float):
        return bool(a == b)
    if ta is not tb:
        return False
    if ta is str or ta is bytearray:
        return bool(a == b)
    if (ta is list or ta is dict) and len(a) == len(b):
        return _DEEPER
    return False


def _eq_deep(a: Any, b: Any) -> bool:
    """Two containers of one type and length, compared element by element.

    Pairs still to compare wait on a stack (no recursion, so no depth limit).
    Two distinct containers, once compared, join one class of a union-find
    (Hopcroft and Karp's test for equivalent automata): a later pair from one
    class adds no difference, because any would already be found where the
    class was joined. That makes cyclic containers terminate, in time and
    memory near-linear in their size: `xs = [1]; push(xs, xs)` and
    `ys = [1]; push(ys, ys)` give `xs == ys`. A container met against itself
    is compared once, element by element, so a nan inside it is still seen.
    """
    parent: dict[int, int] = {}
    selves: set[int] = set()
    todo = [(a, b)]
    while todo:
        x, y = todo.pop()
        if x is y:
            if id(x) in selves:
                continue
            selves.add(id(x))
        else:
            rx, ry = _find(parent, id(x)), _find(parent, id(y))
            if rx == ry:
                continue
            parent[rx] = ry
        if not _eq_elements(x, y, todo):
            return False
    return True


def _find(parent: dict[int, int], k: int) -> int:
    """The class of container id k in the union-find, halving the path as it goes."""
    while True:
        p = parent.get(k, k)
        if p == k:
            return k
        g = parent.get(p, p)
        parent[k] = g
        k = g


def _eq_elements(x: Any, y: Any, todo: list[tuple[Any, Any]]) -> bool:
    """Compare the elements of two containers: fls at a difference; pairs of containers go on todo."""
    if type(x) is list:
        pairs: Any = zip(x, y)
    elif any(k not in y for k in x):
        return False
    else:
        pairs = ((v, y[k]) for k, v in x.items())
    for p, q in pairs:
        r = _eq_flat(p, q)
        if r is False:
            return False
        if r is _DEEPER:
            todo.append((p, q))
    return True


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


def range_list(a: Any, b: Any) -> list[int]:
    """`a..b` as a list; one too big for memory is `out of memory` before any is built.

    Python would allocate the list's pointer array at once but its integers
    one by one, so a range of a few billion elements would fill all memory
    (and wake the OOM killer) before failing.
    """
    r = make_range(a, b)
    if len(r) > memory_budget() // RANGE_ELEMENT_BYTES:
        raise RuntimeErr(OUT_OF_MEMORY)
    return list(r)


# A list element holding an integer: its pointer plus the int object itself.
RANGE_ELEMENT_BYTES = 8 + 32
_BUDGET: list[int] = []


def memory_budget() -> int:
    """Bytes one value may take at most: physical memory, or the address-space limit if lower."""
    if not _BUDGET:
        try:
            total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            total = 1 << 62
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        _BUDGET.append(min(total, soft) if soft != resource.RLIM_INFINITY else total)
    return _BUDGET[0]


def limit_address_space() -> None:
    """Cap the process's address space at the memory budget, before a program runs.

    Linux grants a request that fits in memory on its own, then kills the
    process (or a neighbour) when the pages are touched. Under the cap the
    allocation that would overcommit fails instead, as a MemoryError that
    the engines turn into the runtime error `out of memory`: doubling a
    string until it no longer fits stops there, on every machine.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    budget = memory_budget()
    if soft == resource.RLIM_INFINITY or soft > budget:
        if hard == resource.RLIM_INFINITY or budget <= hard:
            _OWN_LIMIT[:] = [(soft, hard)]
            resource.setrlimit(resource.RLIMIT_AS, (budget, hard))


_OWN_LIMIT: list[tuple[int, int]] = []  # the limit limit_address_space replaced


@contextlib.contextmanager
def inherited_address_space() -> Iterator[None]:
    """Lift limit_address_space's cap while a child process starts, so the child gets the original limit."""
    if not _OWN_LIMIT:
        yield
        return
    capped = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, _OWN_LIMIT[0])
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, capped)


def make_range(a: Any, b: Any) -> range:
    """The integers a..b inclusive, counting down when a > b (integral floats count)."""
    a, b = _whole(a), _whole(b)
    if type(a) is not int or type(b) is not int:
        raise RuntimeErr("range bounds must be integers")
    return range(a, b + 1) if a <= b else range(a, b - 1, -1)


# ---- indexing and fields -----------------------------------------------------

def seq_index(v: list[Any] | str, i: Any) -> int:
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
        return v[seq_index(v, i)]
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
        v[seq_index(v, i)] = x
    elif t is dict:
        if type(i) is not str:
            raise RuntimeErr(f"object keys must be strings, got {type_name(i)}")
        v[i] = x
    elif t is bytearray:
        v[seq_index(v, i)] = byte_value(x)
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


# ---- objects and iteration (MAKE_OBJ, ITER, ITER2, ITER_RANGE on every engine) ----

def make_obj(n: int, flat: list[Any]) -> dict[str, Any]:
    """The object of n key/value pairs laid out flat (k1, v1, k2, v2, ...)."""
    obj: dict[str, Any] = {}
    for i in range(0, 2 * n, 2):
        k = flat[i]
        if type(k) is not str:
            raise RuntimeErr(f"object keys must be strings, got {type_name(k)}")
        obj[k] = flat[i + 1]
    return obj


def iter_items(v: Any) -> Iterator[Any]:
    """An iterator over a value's elements, characters or (snapshot) keys (a buf is not iterable: §6)."""
    t = type(v)
    if t is list or t is str:
        return iter(v)
    if t is dict:
        return iter(list(v))
    raise RuntimeErr(f"cannot iterate {type_name(v)}")


def iter_pairs(v: Any) -> Iterator[tuple[Any, Any]]:
    """An iterator over (index, element) or (key, value) pairs."""
    t = type(v)
    if t is list or t is str:
        return enumerate(v)
    if t is dict:
        return _pairs_by_key(v)
    raise RuntimeErr(f"cannot iterate {type_name(v)}")


def _pairs_by_key(o: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(key, value) over a snapshot of o's keys, each value read when the loop reaches its key.

    The same rule as `x <- obj` (keys fixed at the start) and as list loops
    (an element changed ahead of the loop is seen changed).
    """
    for k in list(o):
        yield k, o.get(k)


def iter_range(lo: Any, hi: Any) -> Iterator[int]:
    """An iterator over the integers lo..hi, without a list."""
    return iter(make_range(lo, hi))


# ---- locals in traces (`ilusm run --locals`) --------------------------------------

LOCAL_WIDTH = 60   # the longest text of one value in a trace's locals line; longer is cut with "..."
LOCAL_ITEMS = 50   # a list or object with more elements is shown by its size only


def locals_text(pairs: list[tuple[str, Any]]) -> str:
    """`n = 5, xs = [1, 2]`: a frame's named locals (cells opened, unset ones skipped), each
    value as the language prints it, cut to LOCAL_WIDTH. Every engine builds its trace's
    locals lines with this."""
    parts = []
    for name, v in pairs:
        if type(v) is Cell:
            v = v.v
        if not name or v is UNSET:
            continue
        if type(v) in (list, dict) and len(v) > LOCAL_ITEMS:
            text = f"<{type_name(v)} of {len(v)}>"
        else:
            text = show(v)
            if len(text) > LOCAL_WIDTH:
                text = text[:LOCAL_WIDTH - 3] + "..."
        parts.append(f"{name} = {text}")
    return ", ".join(parts)
