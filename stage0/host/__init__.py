"""Host builtins: registered once by name (stage0/host/registry.py), grouped by domain.

Each domain module (core, sys, proc, net, buf, txt, num, cry, jsn, sbx, mch, jit, meta) decorates its functions
with `@builtin(name, arity, cap=...)`. A builtin is called as `fn(ctx, *args)`
after the VM has checked the argument count; `ctx` is the calling VM seen as
a `HostContext` (`call` back into ilusm, `out`, `err_out`, `args`, `caps`).

Host failures follow the Syscall ABI: a failing file or process call returns
the error object `{err: "message"}` instead of raising; misuse (a wrong
argument type) raises RuntimeErr like any builtin.
"""
from __future__ import annotations

from stage0.host.registry import REGISTRY
from stage0.values import Builtin


def all_builtins() -> dict[str, Builtin]:
    """Every builtin, after importing each domain module once."""
    from stage0.host import buf, core, cry, ffi, ilu, jit, jsn, mch, meta, net, num, proc, rfl, sbx, sys, txt  # noqa: F401  (registration)

    return REGISTRY
