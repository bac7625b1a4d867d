"""The tracing JIT seen from ilusm (`__jit_*`): the knobs of lib/backend/jit.ilu and its statistics.

The JIT belongs to the VM that runs the program (stage0/jit/runtime.py); a
VM without one (ILUSM_JIT=off, `--trace`, the toolchain's own VMs) takes the
knobs without effect and reports `on: fls` with zero counters. The knobs change speed only,
never a result, so they need no capability.
"""
from __future__ import annotations

import copy
from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.core import want
from stage0.host.registry import HostContext, builtin
from stage0.jit.guest import NOT_A_PROTO
from stage0.jit.knobs import DEFAULTS, empty_stats

# What each knob takes: a whole number of at least 1, or a bool (as its default is).
_KNOBS = {k: "bool" if type(v) is bool else "count" for k, v in DEFAULTS.items()}


@builtin("__jit_config", 2)
def config(ctx: HostContext, key: Any, value: Any) -> None:
    """Set knob `key` (threshold, max_trace, deopt_limit, type_spec) of the running VM's JIT."""
    kind = _KNOBS.get(want("__jit_config", key, "str"))
    if kind is None:
        raise RuntimeErr(f"unknown jit setting '{key}' (one of {', '.join(_KNOBS)})")
    if kind == "bool" and type(value) is not bool:
        raise RuntimeErr(f"jit setting {key} expects tru or fls")
    if kind == "count" and not (type(value) is int and value >= 1):
        raise RuntimeErr(f"jit setting {key} expects a whole number of at least 1")
    jit = _jit_of(ctx)
    if jit is not None:
        jit.configure(key, value)


@builtin("__jit_stats", 0)
def stats(ctx: HostContext) -> dict[str, Any]:
    """The JIT's counters: on, traces, entries, exits by kind, deopts, dropped, blacklisted,
    recompiled, aborts (reason -> count), cache_hits, and the knobs as set."""
    jit = _jit_of(ctx)
    if jit is None:  # the same shape, all zero, with the default knobs
        return dict(empty_stats(), on=False, settings=dict(DEFAULTS))
    return dict(copy.deepcopy(jit.stats), on=True, settings=dict(jit.settings))


def _jit_of(ctx: HostContext) -> Any:
    """The JIT of the program running: a guest's, when ctx runs the self-hosted VM with one
    (SelfHostedVM), else ctx's own (None: off)."""
    guest = getattr(ctx, "guest_jit", None)
    return guest if guest is not None else getattr(ctx, "jit", None)


@builtin("__jit_guest", 0)
def guest(ctx: HostContext) -> bool:
    """Whether the self-hosted VM running on ctx has a JIT for its guest's loops."""
    return getattr(ctx, "guest_jit", None) is not None


@builtin("__jit_enter", 6)
def enter(ctx: HostContext, p: Any, header: Any, end: Any, locs: Any, g: Any, room: Any) -> Any:
    """The self-hosted VM's loop hook: its function p jumped back to instruction `header` from
    `end`, with locals locs, module globals g and room for that many more calls. Gives nil to
    carry on at the header, or [pc, stack]: the trace ran, and the VM resumes at pc with those
    values pushed (stage0/jit/runtime.py: Jit.guest_edge)."""
    jit = getattr(ctx, "guest_jit", None)
    if jit is None:
        return None
    want("__jit_enter", p, "obj")
    want("__jit_enter", locs, "lst")
    want("__jit_enter", g, "obj")
    if not all(type(v) is int for v in (header, end, room)) or not 0 <= header <= end:
        raise RuntimeErr(NOT_A_PROTO)
    r = jit.guest_edge(p, header, end, locs, g, room)
    return None if r is None else [r[0], r[1]]
