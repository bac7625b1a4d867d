"""The builtins every module sees (language.md §8), and the argument checks
the other domain modules share.

Conversions follow docs/decisions.md: `int` truncates numbers and accepts
decimal integer strings; `num` accepts any numeric literal form of the
language with an optional leading `-`. Wrong argument types raise
RuntimeErr with a message of the form `len expects a str, lst, obj or buf,
got num`.
"""
from __future__ import annotations

import math
import re
from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.registry import HostContext, builtin
from stage0.values import eq, fmt_num, is_num, show, to_str, truthy, type_name

# ---- argument checks shared by every domain ------------------------------------

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "num": (int, float), "str": (str,), "bl": (bool,), "nil": (type(None),),
    "lst": (list,), "obj": (dict,), "buf": (bytearray,),
}


def _kinds_text(kinds: tuple[str, ...]) -> str:
    """`a str`, `a str or buf`, `a str, lst, obj or buf`, `an obj`."""
    article = "an" if kinds[0] == "obj" else "a"
    if len(kinds) == 1:
        return f"{article} {kinds[0]}"
    return f"{article} {', '.join(kinds[:-1])} or {kinds[-1]}"


def want(name: str, v: Any, *kinds: str) -> Any:
    """Return `v` when its type is one of `kinds`, else raise the standard error."""
    t = type(v)
    for kind in kinds:
        if t in _PY_TYPES[kind]:
            return v
    raise RuntimeErr(f"{name} expects {_kinds_text(kinds)}, got {type_name(v)}")


def want_int(name: str, v: Any) -> int:
    """Return `v` as an int (an integral float counts), else raise."""
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    got = fmt_num(v) if is_num(v) else type_name(v)
    raise RuntimeErr(f"{name} expects an integer, got {got}")


def utf8(name: str, s: str) -> bytes:
    """Encode `s` as UTF-8; a lone surrogate is a runtime error."""
    try:
        return s.encode("utf-8")
    except UnicodeEncodeError:
        raise RuntimeErr(f"{name}: string is not valid Unicode") from None


def check_argc(name: str, args: tuple[Any, ...], lo: int, hi: int) -> None:
    """Arity check for a variadic builtin taking `lo` to `hi` arguments."""
    if not lo <= len(args) <= hi:
        raise RuntimeErr(f"{name} expects {lo} or {hi} arguments, got {len(args)}")


# ---- number parsing ------------------------------------------------------------

_DEC = r"[0-9]+(?:_[0-9]+)*"
_INT_RE = re.compile(rf"[+-]?{_DEC}")
_NUM_RE = re.compile(
    r"-?(?:0[xX](?P<hex>[0-9A-Fa-f]+(?:_[0-9A-Fa-f]+)*)"
    r"|0[bB](?P<bin>[01]+(?:_[01]+)*)"
    rf"|(?P<dec>{_DEC}(?P<frac>(?:\.{_DEC})?(?:[eE][+-]?{_DEC})?)))"
)


def parse_num(s: str) -> int | float | None:
    """A numeric literal (optional leading `-`) as a number, or None."""
    m = _NUM_RE.fullmatch(s)
    if m is None:
        return None
    sign = -1 if s.startswith("-") else 1
    if m["hex"] is not None:
        return sign * int(m["hex"].replace("_", ""), 16)
    if m["bin"] is not None:
        return sign * int(m["bin"].replace("_", ""), 2)
    text = s.replace("_", "")
    try:
        return float(text) if m["frac"] else int(text)
    except ValueError:  # more digits than Python converts
        raise RuntimeErr("number too large") from None


def to_num(v: Any) -> int | float:
    """`num(v)`: numbers as they are, numeric strings parsed, else an error."""
    if is_num(v):
        return v
    n = parse_num(v) if type(v) is str else None
    if n is None:
        raise RuntimeErr(f"cannot convert {show(v)} to num")
    return n


def to_int(v: Any) -> int:
    """`int(v)`: numbers truncate toward zero, decimal strings parse, else an error."""
    if type(v) is int:
        return v
    if type(v) is float and math.isfinite(v):
        return int(v)
    if type(v) is str and _INT_RE.fullmatch(v):
        try:
            return int(v.replace("_", ""))
        except ValueError:
            raise RuntimeErr("number too large") from None
    raise RuntimeErr(f"cannot convert {show(v)} to int")


# ---- the §8 builtins ---------------------------------------------------------------

@builtin("prn", -1, cap="io")
def prn(ctx: HostContext, *args: Any) -> None:
    """Print the values separated by one space, then a newline."""
    ctx.out.write(" ".join(to_str(a) for a in args) + "\n")


@builtin("len", 1)
def len_(ctx: HostContext, x: Any) -> int:
    """Length of a string (code points), list, object (keys) or buffer (bytes)."""
    return len(want("len", x, "str", "lst", "obj", "buf"))


@builtin("str", 1)
def str_(ctx: HostContext, x: Any) -> str:
    """The printed form of a value."""
    return to_str(x)


@builtin("int", 1)
def int_(ctx: HostContext, x: Any) -> int:
    """Integer from a number (truncating) or a decimal integer string."""
    return to_int(x)


@builtin("num", 1)
def num_(ctx: HostContext, x: Any) -> int | float:
    """Number from a numeric literal string; a number is returned as it is."""
    return to_num(x)


@builtin("typ", 1)
def typ(ctx: HostContext, x: Any) -> str:
    """The type name: num str bl nil lst obj fn buf."""
    return type_name(x)


@builtin("try", 1)
def try_(ctx: HostContext, f: Any) -> dict[str, Any]:
    """Call `f()`; return {val, err: nil} or {val: nil, err: message}."""
    try:
        return {"val": ctx.call(f, []), "err": None}
    except RuntimeErr as e:
        return {"val": None, "err": e.message}


@builtin("err", 1)
def err(ctx: HostContext, m: Any) -> None:
    """Raise a runtime error whose message is str(m)."""
    raise RuntimeErr(to_str(m))


@builtin("asr", -1)
def asr(ctx: HostContext, *args: Any) -> None:
    """asr(c) / asr(c, m): raise `assertion failed` / str(m) when c is falsy."""
    check_argc("asr", args, 1, 2)
    if not truthy(args[0]):
        raise RuntimeErr(to_str(args[1]) if len(args) == 2 else "assertion failed")


@builtin("keys", 1)
def keys(ctx: HostContext, o: Any) -> list[str]:
    """An object's keys in insertion order."""
    return list(want("keys", o, "obj"))


@builtin("push", 2)
def push(ctx: HostContext, xs: Any, v: Any) -> list[Any]:
    """Append v to the list and return the list."""
    want("push", xs, "lst").append(v)
    return xs


@builtin("pop", 1)
def pop(ctx: HostContext, xs: Any) -> Any:
    """Remove and return the last element of a list."""
    if not want("pop", xs, "lst"):
        raise RuntimeErr("pop from empty list")
    return xs.pop()


@builtin("has", 2)
def has(ctx: HostContext, c: Any, x: Any) -> bool:
    """Key in object, element in list (structural ==), substring in string."""
    want("has", c, "str", "lst", "obj")
    if type(c) is list:
        return any(eq(e, x) for e in c)
    if type(c) is dict:
        if type(x) is not str:
            raise RuntimeErr(f"object keys must be strings, got {type_name(x)}")
        return x in c
    if type(x) is not str:
        raise RuntimeErr(f"has expects a str to look for in a str, got {type_name(x)}")
    return x in c
