"""JSON (`__json_encode`, `__json_decode`, `__json_pretty`) and regular expressions (`__rex_*`).

JSON maps onto ilusm values one to one: objects keep insertion order,
integers stay exact, floats use the shortest text that reads back the same,
non-ASCII text is kept. What JSON cannot hold (a function, a buf, NaN or an
infinity, a cycle) is an error object. Decoding returns `{val, err}`, so a
decoded `{"err": 1}` is never mistaken for a failure; `NaN` and `Infinity`
are rejected. Nesting deeper than MAX_DEPTH is an error both ways, on every
engine alike (Python's own limit would depend on how deep the caller's
stack already is).

Regular expressions are Python's `re` syntax; a bad pattern is misuse and raises.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.core import want, want_int
from stage0.host.registry import HostContext, builtin, error_value
from stage0.values import type_name

MAX_DEPTH = 500  # arrays and objects inside one another, in JSON text and in encoded values
TOO_DEEP = "nested too deeply"


class _Unencodable(Exception):
    """A value JSON cannot hold."""


def _check(v: Any, active: set[int]) -> None:
    """Raise _Unencodable for what JSON cannot hold, walking containers with an explicit stack
    (deep lists must not exhaust the host's recursion)."""
    stack: list[tuple[Any, bool, int]] = [(v, False, 0)]
    while stack:
        x, leaving, depth = stack.pop()
        if leaving:
            active.discard(id(x))
            continue
        t = type(x)
        if t is float and not math.isfinite(x):
            raise _Unencodable(f"cannot encode {x!r} as JSON".replace("inf", "infinity"))
        if t in (list, dict):
            if id(x) in active:
                raise _Unencodable("cannot encode a cycle as JSON")
            if depth >= MAX_DEPTH:
                raise _Unencodable(f"cannot encode as JSON: {TOO_DEEP}")
            active.add(id(x))
            stack.append((x, True, depth))
            stack.extend((y, False, depth + 1) for y in (x.values() if t is dict else x))
        elif t not in (str, int, float, bool, type(None)):
            raise _Unencodable(f"cannot encode a {type_name(x)} as JSON")


def encode(v: Any, indent: Any = None) -> str | dict[str, Any]:
    """JSON text of v, or the error object."""
    try:
        _check(v, set())
        seps = (",", ":") if indent is None else (",", ": ")
        return json.dumps(v, ensure_ascii=False, allow_nan=False, indent=indent, separators=seps)
    except _Unencodable as e:
        return error_value(str(e))
    except RecursionError:  # the caller's own stack was nearly full
        return error_value(f"cannot encode as JSON: {TOO_DEEP}")


@builtin("__json_encode", 1)
def json_encode(ctx: HostContext, v: Any) -> str | dict[str, Any]:
    """Compact JSON text of a value, or {err} for a fn, a buf, NaN, an infinity or a cycle."""
    return encode(v)


@builtin("__json_pretty", 1)
def json_pretty(ctx: HostContext, v: Any) -> str | dict[str, Any]:
    """JSON text indented by two spaces, or {err}."""
    return encode(v, 2)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


@builtin("__json_decode", 1)
def json_decode(ctx: HostContext, s: Any) -> dict[str, Any]:
    """`{val, err}`: the value of JSON text, or nil and the reason it is not JSON."""
    text = want("__json_decode", s, "str")
    if _too_deep(text):
        return {"val": None, "err": f"invalid JSON: {TOO_DEEP}"}
    try:
        return {"val": json.loads(text, parse_constant=_no_constant), "err": None}
    except json.JSONDecodeError as e:
        return {"val": None, "err": f"invalid JSON: {e.msg} at line {e.lineno} column {e.colno}"}
    except ValueError as e:
        return {"val": None, "err": f"invalid JSON: {e}"}
    except RecursionError:  # the caller's own stack was nearly full
        return {"val": None, "err": f"invalid JSON: {TOO_DEEP}"}


def _too_deep(text: str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH (a quick count first: most
    text has too few brackets to need the scan)."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    depth, in_str, escaped = 0, False, False
    for c in text:
        if in_str:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_str = False
        elif c == '"':
            in_str = True
        elif c in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif c in "]}":
            depth -= 1
    return False


# ---- regular expressions ------------------------------------------------------------


def _rex(name: str, pattern: Any) -> re.Pattern[str]:
    """A compiled pattern; a bad one raises with Python's reason."""
    try:
        return re.compile(want(name, pattern, "str"))
    except re.error as e:
        raise RuntimeErr(f"{name}: bad pattern {pattern!r}: {e}") from None


def _match(m: re.Match[str]) -> dict[str, Any]:
    """A match as an object: the text, where it starts and ends, the groups (nil when unmatched)."""
    return {"txt": m.group(0), "at": m.start(), "end": m.end(), "grp": list(m.groups())}


@builtin("__rex_mtc", 2)
def rex_mtc(ctx: HostContext, pattern: Any, s: Any) -> dict[str, Any] | None:
    """The first match of pattern in s as `{txt, at, end, grp}`, or nil."""
    m = _rex("__rex_mtc", pattern).search(want("__rex_mtc", s, "str"))
    return None if m is None else _match(m)


@builtin("__rex_all", 2)
def rex_all(ctx: HostContext, pattern: Any, s: Any) -> list[dict[str, Any]]:
    """Every non-overlapping match, in order."""
    return [_match(m) for m in _rex("__rex_all", pattern).finditer(want("__rex_all", s, "str"))]


@builtin("__rex_rep", 4)
def rex_rep(ctx: HostContext, pattern: Any, s: Any, repl: Any, count: Any) -> str:
    """s with matches replaced (\\1 names a group; count 0 = all)."""
    n = want_int("__rex_rep", count)
    if n < 0:
        raise RuntimeErr(f"__rex_rep expects a count of 0 or more, got {n}")
    try:
        return _rex("__rex_rep", pattern).sub(want("__rex_rep", repl, "str"), want("__rex_rep", s, "str"), count=n)
    except (re.error, IndexError) as e:
        raise RuntimeErr(f"__rex_rep: bad replacement {repl!r}: {e}") from None


@builtin("__rex_spl", 2)
def rex_spl(ctx: HostContext, pattern: Any, s: Any) -> list[str]:
    """s split at every match (groups in the pattern are not kept)."""
    rx = _rex("__rex_spl", pattern)
    text = want("__rex_spl", s, "str")
    out, start = [], 0
    for m in rx.finditer(text):
        out.append(text[start:m.start()])
        start = m.end()
    out.append(text[start:])
    return out
