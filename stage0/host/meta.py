"""Builtins about the host itself: reaching a host builtin by its name.

An ilusm program that runs other ilusm code (the self-hosted VM running an
image's SYSCALL, the tree-walking evaluator running a `__name(...)` call)
needs the builtin a name stands for. `__host_builtin` hands out the
registered object; calling it goes through its `fn`, so its capability
check holds as on every other path.
"""
from __future__ import annotations

from typing import Any

from stage0.host.core import want
from stage0.host.registry import REGISTRY, HostContext, builtin


@builtin("__host_builtin", 1)
def host_builtin(ctx: HostContext, name: Any) -> Any:
    """The host builtin named `name` as a callable value, or nil when there is none."""
    return REGISTRY.get(want("__host_builtin", name, "str"))
