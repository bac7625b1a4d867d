"""Engines by name: running an image's entry module on the reference
interpreter or the fast tier, with the process limits a run needs.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Callable, Optional, TextIO

from stage0.errors import RuntimeErr, UsageError
from stage0.image.model import Image

ENGINES = ("ref", "fast", "vm")
# The self-hosted VM (an ilusm program) and where it keeps its own guest frames.
VM_MODULE = "backend/ilusm_vm.ilu"


def execute(image: Image, args: list[str], max_depth: int, trace: bool = False,
            out: Optional[TextIO] = None, engine: str = "fast", origin: Optional[Path] = None) -> int:
    """Run an image's entry module; returns the exit status.

    engine "ref" is the reference interpreter, "fast" the fast host tier
    (stage0/fast/vm.py), "vm" the self-hosted VM (lib/backend/ilusm_vm.ilu)
    running on the fast tier; `trace` always runs the reference interpreter.
    origin is the source file the image was compiled from: a runtime error's
    trace then names files as compile errors do (see `placer`).
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
    try:
        if engine == "vm" and not trace:
            run_on_ilusm_vm(image, args, max_depth, out)
        else:
            cls(image, args=args, max_depth=max_depth, trace=sys.stderr if trace else None, out=out).run_main()
    except RuntimeErr as e:
        if origin is not None:
            e.place = placer(origin)
        raise
    finally:
        (out or sys.stdout).flush()
    return 0


# Host frames a guest frame may need on the self-hosted VM: a guest `try` nests host calls
# (the VM's try, the host's try, the callback, the VM's call and its loop); one spare.
HOST_FRAMES_PER_GUEST = 6


def run_on_ilusm_vm(image: Image, args: list[str], max_depth: int, out: Optional[TextIO]) -> None:
    """Run image on the self-hosted VM, itself compiled by the seed compiler and run on the fast tier.

    The guest's recursion limit is max_depth, counted by the VM in its own frames; the host's
    is set so that it is never reached first.
    """
    from stage0.fast.vm import FastVM
    from stage0.image import ilbc
    from stage0.paths import lib_root

    host_depth = HOST_FRAMES_PER_GUEST * max_depth + 1_000
    host = FastVM(vm_image(str(lib_root() / VM_MODULE)), args=args, max_depth=host_depth, out=out)
    run_image = host.run_main()["run_image"]
    host.call(run_image, [bytearray(ilbc.write(image, verify=False)), max_depth])


@functools.lru_cache(maxsize=1)
def vm_image(path: str) -> Image:
    """The self-hosted VM compiled by the seed compiler (once per process)."""
    from stage0.seedc.driver import compile_file

    return compile_file(Path(path))


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
