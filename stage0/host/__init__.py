"""Host builtins: registered once by name, grouped by domain.

Each domain module (core, sys, buf, txt, num, cry) decorates its functions
with `@builtin(name, arity)`. A builtin is called as `fn(vm, *args)` after
the VM has checked the argument count (arity -1: variadic, the function
checks). `vm` offers `call(fn, args)` to call back into ilusm, `out` (a text
stream for prn), `args` (the program's arguments) and `max_depth`.

Host failures follow the Syscall ABI: a failing file or process call returns
the error object `{err: "message"}` instead of raising; misuse (a wrong
argument type) raises RuntimeErr like any builtin.
"""
from __future__ import annotations

from typing import Any, Callable

from stage0.values import Builtin

REGISTRY: dict[str, Builtin] = {}


def builtin(name: str, arity: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(vm, *args)` as the builtin `name` taking `arity` arguments."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"builtin {name} registered twice")
        REGISTRY[name] = Builtin(name, arity, fn)
        return fn

    return register


def error_value(message: str) -> dict[str, Any]:
    """The ABI's error object for a failed host call."""
    return {"err": message}


def all_builtins() -> dict[str, Builtin]:
    """Every builtin, after importing each domain module once."""
    from stage0.host import buf, core, cry, num, sys, txt  # noqa: F401  (registration)

    return REGISTRY
