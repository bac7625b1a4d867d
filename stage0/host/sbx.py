"""The sandbox builtins (`__sbx_*`): what the program holds, and narrowing it.

None of them needs a capability: they can only ever take capabilities away.
`__sbx_pledge` narrows the set for good and installs the kernel layer
(stage0/host/sandbox.py); `__sbx_run` narrows it for one call's dynamic
extent only (for plugin code), which the kernel does not enforce. The VM
keeps two facts for them: `kern`, what the kernel enforces (`""` before any
pledge), and `ceiling`, the set the last pledge left, which a `__sbx_run`
ending after a pledge inside it never widens again.
"""
from __future__ import annotations

from typing import Any, Optional

from stage0.errors import RuntimeErr, UsageError
from stage0.host.caps import base_caps, narrow, parse_caps
from stage0.host.core import want
from stage0.host.registry import HostContext, builtin, grant


def wanted_caps(name: str, caps: Any) -> frozenset[str]:
    """A capability list (a lst of str, or one comma-separated str) as a set; unknown names raise."""
    items = want(name, caps, "lst", "str")
    text = items if type(items) is str else ",".join(want(name, c, "str") for c in items)
    try:
        return parse_caps(text, name)
    except UsageError as e:
        raise RuntimeErr(str(e).split(": ", 1)[1].split(" (known")[0]) from None


def _sorted(caps: frozenset[str]) -> list[str]:
    return sorted(base_caps(caps))


@builtin("__sbx_pledge", 1)
def pledge(ctx: HostContext, caps: Any) -> dict[str, Any]:
    """Narrow the set to caps ∪ {io} for the rest of the program, then install the kernel layer;
    `{caps, kern}`."""
    asked = wanted_caps("__sbx_pledge", caps)
    missing = sorted(asked - narrow(ctx.caps, asked))
    if missing:
        raise RuntimeErr(f"cannot pledge '{missing[0]}': not granted to this program")
    held = grant(narrow(ctx.caps, asked))
    ctx.caps = held
    ctx.ceiling = held
    jit = getattr(ctx, "jit", None)
    if jit is not None:
        jit.cache = None  # a confined process writes no cache files
    from stage0.host.sandbox import install, kernel_layer_off, preload, supported

    kern = "none"
    if supported() and not kernel_layer_off():
        preload()
        kern = install(held, ctx.fs_root)
    if ctx.kern in ("", "none") or kern != "none":
        ctx.kern = kern
    return {"caps": _sorted(held), "kern": ctx.kern}


@builtin("__sbx_caps", 0)
def caps_(ctx: HostContext) -> list[str]:
    """The capabilities the program holds now, sorted (`fs` stands for `fs:ro` as well)."""
    return _sorted(ctx.caps)


@builtin("__sbx_has", 1)
def has(ctx: HostContext, cap: Any) -> bool:
    """Whether the program holds a capability (`fs:ro` is held wherever `fs` is)."""
    return wanted_caps("__sbx_has", [want("__sbx_has", cap, "str")]) <= ctx.caps


@builtin("__sbx_kern", 0)
def kern(ctx: HostContext) -> str:
    """What the kernel enforces: "seccomp+landlock", "seccomp", "landlock", "none", or "" before a pledge."""
    return ctx.kern


@builtin("__sbx_root", 0)
def root(ctx: HostContext) -> Optional[str]:
    """The file sandbox's root, or nil when files are not confined."""
    return ctx.fs_root


@builtin("__sbx_run", 2)
def run(ctx: HostContext, caps: Any, f: Any) -> Any:
    """Call f() holding only caps (and no more than now) for the call's dynamic extent."""
    old = ctx.caps
    ctx.caps = grant(narrow(old, wanted_caps("__sbx_run", caps)))
    try:
        return ctx.call(f, [])
    finally:
        ctx.caps = old if ctx.ceiling is None else old & ctx.ceiling


@builtin("__sbx_narrow", 1)
def narrow_(ctx: HostContext, caps: Any) -> list[str]:
    """Keep only caps (layer 2 only, no kernel layer) for good: the self-hosted VM applies an entry
    module's `# @requires` manifest with it. The set held afterwards, sorted."""
    ctx.caps = grant(narrow(ctx.caps, wanted_caps("__sbx_narrow", caps)))
    return _sorted(ctx.caps)
