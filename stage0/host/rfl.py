"""Reflection builtins (`__rfl_*`): what a function value says of itself, and deep copies.

A function is a closure of the host's VMs (its prototype holds its name,
arity, captured names and lines), a builtin, or a function of a VM written in
ilusm (a GuestFn), which answers through the reflection callback that VM
registered with `__vm_callback`. A function's source line is the line its
code starts at (the first entry of its line table), the same on every engine.
"""
from __future__ import annotations

from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.registry import HostContext, builtin
from stage0.values import Builtin, Closure, GuestFn, type_name


def _fn(name: str, f: Any) -> Any:
    """f, which must be a function value."""
    if type(f) not in (Closure, Builtin, GuestFn):
        raise RuntimeErr(f"{name} expects a fn, got {type_name(f)}")
    return f


def _guest(ctx: HostContext, name: str, f: GuestFn) -> dict[str, Any]:
    """What the guest VM that made f says of it: {name, arity, upvals, file, line}."""
    if ctx.guest_reflect is None:
        raise RuntimeErr(f"{name}: this engine cannot look inside its functions")
    return dict(ctx.guest_reflect(f))


@builtin("__rfl_arity", 1)
def arity(ctx: HostContext, f: Any) -> int:
    """The number of parameters; -1 for a builtin that takes any number."""
    return int(_fn("__rfl_arity", f).arity)


@builtin("__rfl_name", 1)
def name(ctx: HostContext, f: Any) -> str:
    """The function's name ("anon" for a lambda)."""
    return str(_fn("__rfl_name", f).name)


@builtin("__rfl_upvals", 1)
def upvals(ctx: HostContext, f: Any) -> list[str]:
    """The names of the variables a closure captured, in capture order ([] for a builtin)."""
    g = _fn("__rfl_upvals", f)
    if type(g) is Closure:
        return list(g.proto.upval_names)
    if type(g) is GuestFn:
        return list(_guest(ctx, "__rfl_upvals", g)["upvals"])
    return []


@builtin("__rfl_src", 1)
def src(ctx: HostContext, f: Any) -> dict[str, Any]:
    """`{file, line}` where the function's code starts; a builtin's is `{file: "<host>", line: 0}`."""
    g = _fn("__rfl_src", f)
    if type(g) is Closure:
        lines = g.proto.lines
        return {"file": g.module.file, "line": lines[0] if lines else 0}
    if type(g) is GuestFn:
        info = _guest(ctx, "__rfl_src", g)
        return {"file": info["file"], "line": info["line"]}
    return {"file": "<host>", "line": 0}


@builtin("__rfl_clone", 1)
def clone(ctx: HostContext, v: Any) -> Any:
    """A deep copy of v: lists, objects and bufs are new, functions are shared, and the copy
    keeps v's sharing and cycles (walked without recursion, so depth is no limit)."""
    copies: dict[int, Any] = {}

    def fresh(x: Any) -> Any:
        t = type(x)
        if t not in (list, dict, bytearray):
            return x
        if id(x) not in copies:
            copies[id(x)] = bytearray(x) if t is bytearray else ([] if t is list else {})
            if t is not bytearray:
                todo.append(x)
        return copies[id(x)]

    todo: list[Any] = []
    top = fresh(v)
    while todo:
        x = todo.pop()
        out = copies[id(x)]
        if type(x) is list:
            out.extend(fresh(y) for y in x)
        else:
            for k, y in x.items():
                out[k] = fresh(y)
    return top
