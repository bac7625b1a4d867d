"""The builtin registry: `@builtin(name, arity, cap=...)`, the capabilities, the host context.

Every host builtin is one registered `Builtin` object, and every engine calls
its `fn` (the reference interpreter's CALL and SYSCALL, `VM.call` from a
builtin back into ilusm, the fast tier's generated code, which binds `fn`
once at translation time). So the capability check (layer 2 of
`../shared/spec/stdlib.md` §3) lives inside that `fn`: the decorator wraps a
builtin that needs a capability before it goes into the registry, and the
check reads `ctx.caps` on every call, so narrowing the set later reaches code
already translated. Pure builtins are stored unwrapped and cost nothing.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Protocol, TextIO

from stage0.errors import RuntimeErr
from stage0.values import Builtin

# Every capability a builtin can need (spec §3.1). `io` is always held;
# holding `fs` implies `fs:ro`, the read-only subset.
CAPS = ("io", "fs", "fs:ro", "net", "proc", "env", "time", "ffi")
DEFAULT_CAPS = frozenset(CAPS) - {"ffi"}  # native code is never granted unasked

REGISTRY: dict[str, Builtin] = {}


class HostContext(Protocol):
    """What a builtin may use of the VM that calls it (both engines provide it)."""

    out: TextIO       # prn and __sys_write_stdout
    err_out: TextIO   # __sys_write_stderr
    args: list[str]   # the program's arguments
    caps: frozenset[str]  # the capabilities granted (see grant())
    fs_root: Optional[str]  # the file sandbox's root, resolved (None: unconfined; see caps.confine)
    read_roots: tuple[str, ...]  # more folders it may read beneath (the toolchain compiling a program)
    handles: Any          # sockets, listeners and processes it opened (stage0/host/handles.py)
    kern: str             # what the kernel enforces since a pledge ("" before any; stage0/host/sbx.py)
    ceiling: Optional[frozenset[str]]  # the set the last pledge left (None: never pledged)
    cap_log: Optional[dict[str, tuple[str, str]]]  # --trace-caps: capability -> (builtin, site); None: off
    probes: Any           # while the toolchain compiles: what it read (stage0/toolchain/progcache.py)
    guest_call: Optional[Callable[[Any, list[Any]], Any]]  # calls a GuestFn back (see meta.vm_callback)
    guest_reflect: Optional[Callable[[Any], Any]]  # what a GuestFn says of itself (rfl.py)

    def call(self, f: Any, args: list[Any]) -> Any:
        """Call an ilusm function (or a builtin) from the host."""

    def current_site(self) -> str:
        """`file:line` of the ilusm code running now (for --trace-caps)."""


def grant(caps: frozenset[str] | set[str]) -> frozenset[str]:
    """The set a VM holds for `caps`: always io, and fs:ro wherever fs is."""
    unknown = set(caps) - set(CAPS)
    if unknown:
        raise ValueError(f"unknown capability {sorted(unknown)[0]!r}")
    out = set(caps) | {"io"}
    if "fs" in out:
        out.add("fs:ro")
    return frozenset(out)


def builtin(name: str, arity: int, cap: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `fn(ctx, *args)` as the builtin `name` taking `arity` arguments (-1: variadic,
    the function checks), needing capability `cap` (None: a pure builtin)."""
    if cap is not None and cap not in CAPS:
        raise ValueError(f"builtin {name}: unknown capability {cap!r}")

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in REGISTRY:
            raise ValueError(f"builtin {name} registered twice")
        entry = fn if cap is None or cap == "io" else checked(name, cap, fn)
        REGISTRY[name] = Builtin(name, arity, entry, cap)
        return fn

    return register


def checked(name: str, cap: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` behind the layer-2 check: a call without `cap` granted raises a catchable error."""
    message = f"capability '{cap}' is not granted (needed by {name})"

    @functools.wraps(fn)  # keeps the docstring and, via __wrapped__, the signature
    def entry(ctx: HostContext, *args: Any) -> Any:
        if cap not in ctx.caps:
            raise RuntimeErr(message)
        if ctx.cap_log is not None and cap not in ctx.cap_log:
            first_use(ctx, cap, name)
        if ctx.probes is None:
            return fn(ctx, *args)
        try:
            r = fn(ctx, *args)
        except RuntimeErr as e:
            ctx.probes.note(name, cap, args, e)
            raise
        ctx.probes.note(name, cap, args, r)
        return r

    return entry


def first_use(ctx: HostContext, cap: str, name: str) -> None:
    """`--trace-caps`: note a capability's first use (the builtin and the ilusm site) in
    ctx.cap_log, and say so on standard error."""
    site = ctx.current_site()
    assert ctx.cap_log is not None
    ctx.cap_log[cap] = (name, site)
    ctx.err_out.write(f"ilusm: capability '{cap}' first used by {name} at {site}\n")
    ctx.err_out.flush()


def error_value(message: str) -> dict[str, Any]:
    """The ABI's error object for a failed host call."""
    return {"err": message}
