"""Engines by name: running an image's entry module on the reference
interpreter or the fast tier, with the process limits a run needs.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

from stage0.errors import RuntimeErr, UsageError
from stage0.host.caps import Policy
from stage0.image.model import Image

ENGINES = ("ref", "fast", "vm", "evl")


def execute(image: Image, args: list[str], max_depth: int, trace: bool = False,
            out: Optional[TextIO] = None, engine: str = "fast", origin: Optional[Path] = None,
            policy: Optional[Policy] = None, cap_log: Optional[dict[str, tuple[str, str]]] = None) -> int:
    """Run an image's entry module; returns the exit status.

    engine "ref" is the reference interpreter, "fast" the fast host tier
    (stage0/fast/vm.py), "vm" the self-hosted VM (lib/backend/ilusm_vm.ilu)
    running on the fast tier, "evl" the tree-walking evaluator (lib/runtime/evl.ilu) on the
    source file `origin`; `trace` always runs the reference interpreter.
    The reference interpreter, the fast tier and the self-hosted VM run with the tracing JIT
    unless ILUSM_JIT=off (stage0/jit/runtime.py: jit_from_env).
    origin is the source file the image was compiled from: a runtime error's
    trace then names files as compile errors do (see `placer`).
    policy is the capability set and file root the program gets (stage0/host/caps.py;
    None: every default capability, no file sandbox). The evaluator is a toolchain that
    reads the program's modules itself, so it runs unconfined. cap_log, when given, collects
    each capability's first use (`--trace-caps`, `ilusm audit --run`).
    (Past 60 lines because each engine is one branch that builds its VM and runs it; the shared
    set-up and clean-up stay in one place around them.)
    """
    from stage0.interp.vm import VM
    from stage0.values import limit_address_space

    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' (choose from {', '.join(ENGINES)})")
    cls = VM
    if engine == "fast" and not trace:
        from stage0.fast.vm import FastVM

        cls = FastVM
    sys.setrecursionlimit(max(20_000, max_depth * 4))
    limit_address_space()
    grant = policy or Policy()
    vm: Any = None
    try:
        if engine == "vm" and not trace:
            from stage0.jit.runtime import jit_from_env
            from stage0.toolchain.selfvm import SelfHostedVM

            vm = SelfHostedVM(image, args=args, out=out, max_depth=max_depth, policy=grant, jit=jit_from_env())
            prepare(vm.host, grant, cap_log)
            vm.run_main()
        elif engine == "evl" and not trace:
            from stage0.toolchain.selfvm import Evaluator

            if origin is None or origin.suffix != ".ilu" or not origin.is_file():
                raise UsageError("--engine evl evaluates a source file (.ilu): not an image, -e or standard input")
            ev = Evaluator(args, out, max_depth)
            prepare(ev.host, Policy(), cap_log)  # unconfined (see above), but with locals in traces
            ev.run_file(origin)
        else:
            from stage0.jit.runtime import jit_from_env

            jit = None if trace else jit_from_env()
            vm = cls(image, args=args, max_depth=max_depth, trace=sys.stderr if trace else None, out=out,
                     jit=jit, caps=grant.caps, fs_root=grant.fs_root)
            prepare(vm, grant, cap_log)
            vm.run_main()
    except RuntimeErr as e:
        if origin is not None:
            e.place = placer(origin)
        raise
    finally:
        if vm is not None:
            vm.handles.close_all()
        (out or sys.stdout).flush()
    return 0


def prepare(ctx: Any, grant: Policy, cap_log: Optional[dict[str, tuple[str, str]]]) -> None:
    """Before the program starts: the capability log, locals in traces (`--locals`, or
    ILUSM_TRACE_LOCALS=1), and `--pledge`'s kernel layer."""
    import os

    ctx.cap_log = cap_log
    ctx.show_locals = ctx.show_locals or os.environ.get("ILUSM_TRACE_LOCALS", "") not in ("", "0")
    if grant.pledge:
        from stage0.host.caps import base_caps
        from stage0.host.sbx import pledge

        pledge(ctx, sorted(base_caps(ctx.caps)))


def placer(origin: Path) -> Callable[[str], str]:
    """How a trace shows a module name recorded in an image compiled from origin.

    The image records names relative to the entry file's folder (so it is the
    same wherever it is built); a user reads them, like compile errors, as the
    path from the working folder (absolute when not below it). Names of the
    library (`lib/...` found in the lib folder) stay as recorded.
    """
    from stage0.paths import display, lib_root

    base = origin.resolve().parent

    def place(name: str) -> str:
        if name.startswith("lib/") and (lib_root() / name[4:]).is_file():
            return name
        return display((base / name).resolve())  # resolved, as the loader names files in compile errors

    return place
