"""The self-hosted VM (lib/backend/ilusm_vm.ilu) seen from the host like stage 0's VMs, and the
tree-walking evaluator (lib/runtime/evl.ilu) run on a source file.

`SelfHostedVM(image)` compiles the VM with the seed compiler (once per
process), runs it on the fast tier and boots the image on it (with `jit`,
the guest's loops become traces through `__jit_enter`); `run_main`
and `call` then do what `VM.run_main` and `VM.call` do, with the guest's
frames, closures and modules kept by the ilusm VM. A guest error that is
not caught comes out as a RuntimeErr with the guest's message and trace.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Optional, TextIO

from stage0.image.model import Image

VM_MODULE = "backend/ilusm_vm.ilu"
EVL_MODULE = "runtime/evl.ilu"
# Host frames a guest call may take on the evaluator: it recurses through the tree.
HOST_FRAMES_PER_EVL_CALL = 40
# Host frames a guest frame may need: a guest `try` nests host calls (the VM's try, the host's
# try, the callback, the VM's call and its loop); one spare.
HOST_FRAMES_PER_GUEST = 6


@functools.lru_cache(maxsize=2)
def vm_image(path: str) -> Image:
    """The self-hosted VM (or the evaluator) compiled by the seed compiler (once per process)."""
    from stage0.seedc.driver import compile_file

    return compile_file(Path(path))


class SelfHostedVM:
    """An image running on the ilusm VM, which runs on the fast tier."""

    def __init__(self, image: Image, args: Optional[list[str]] = None, out: Optional[TextIO] = None,
                 max_depth: int = 10_000, vm: Optional[Image] = None, policy: Any = None, jit: Any = None) -> None:
        from stage0.fast.vm import FastVM
        from stage0.image import ilbc
        from stage0.paths import lib_root

        host_depth = HOST_FRAMES_PER_GUEST * max_depth + 1_000
        from stage0.host.caps import Policy
        from stage0.jit.runtime import toolchain_jit

        grant = policy or Policy()  # the guest's builtins are the host's, so its grant is the host VM's
        self.host = FastVM(vm or vm_image(str(lib_root() / VM_MODULE)), args=args, max_depth=host_depth, out=out,
                           jit=toolchain_jit(), caps=grant.caps, fs_root=grant.fs_root)
        self.host.guest_jit = jit  # the guest's loops (__jit_enter); the host's own JIT is the toolchain's
        self.handles = self.host.handles
        self.api: dict[str, Any] = self.host.run_main()
        self.state: Any = self.host.call(self.api["boot"], [bytearray(ilbc.write(image, verify=False)), max_depth])

    def run_main(self) -> dict[str, Any]:
        """Run the entry module; returns its exported object."""
        return self.host.call(self.api["main"], [self.state])  # type: ignore[no-any-return]

    def call(self, f: Any, args: list[Any]) -> Any:
        """Call a guest function value from the host."""
        return self.host.call(self.api["call"], [self.state, f, list(args)])


class Evaluator:
    """The tree-walking evaluator (lib/runtime/evl.ilu) loaded on the fast tier, ready to run
    source files (loading it costs about a second: it brings the front end with it)."""

    def __init__(self, args: list[str], out: Optional[TextIO], max_depth: int) -> None:
        import os

        from stage0.fast.vm import FastVM
        from stage0.paths import lib_root

        os.environ.setdefault("ILUSM_LIB", str(lib_root()))
        host_depth = HOST_FRAMES_PER_EVL_CALL * max_depth + 1_000
        self.max_depth = max_depth
        self.host = FastVM(vm_image(str(lib_root() / EVL_MODULE)), args=args, max_depth=host_depth, out=out)
        self.api: dict[str, Any] = self.host.run_main()

    def run_file(self, source: Path) -> None:
        """Parse and evaluate the program in a source file. It must already have compiled:
        evl reports no compile errors."""
        self.host.call(self.api["run_file"], [str(source), self.max_depth])

