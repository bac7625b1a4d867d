"""Compiling and loading code while a program runs (`__ilu_compile`, `__ilu_load`, `__ilu_dis`).

`__ilu_compile` compiles source text with the seed compiler, which gives the
same bytes as the self-hosted one (stage 2 is a fixed point) and starts in no
time; the text is compiled as if it were a file of the given name in the
program's file root, so its `use "x.ilu"` looks there, and its modules must
lie where the program's own may (caps.module_roots). `__ilu_load` reads the
image (which verifies it), runs its entry module on a new VM of the calling
VM's kind that shares the caller's capabilities, file root, output and
handles, reusing modules the caller already ran (by key), and gives the
module object; a module's `# @requires` is checked as in any program.
Compiling grants nothing: loaded code runs under the set the caller holds.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from stage0.errors import CompileError, ImageError, RuntimeErr
from stage0.host.caps import module_roots
from stage0.host.core import want
from stage0.host.registry import HostContext, builtin, error_value


@builtin("__ilu_compile", 2)
def compile_(ctx: HostContext, src: Any, name: Any) -> bytearray | dict[str, Any]:
    """The ILBC image (a buf) of source text compiled as the file `name`, or {err} with the
    compile error as `ilusm run` prints it."""
    from stage0.image import ilbc
    from stage0.seedc.driver import compile_with_sources

    text = want("__ilu_compile", src, "str")
    base = ctx.fs_root or os.getcwd()
    path = Path(os.path.join(base, want("__ilu_compile", name, "str")))
    roots = None if ctx.fs_root is None else (ctx.fs_root, *module_roots(ctx.fs_root, str(path)))
    try:
        image, _ = compile_with_sources(path, source=text, roots=roots)
        return bytearray(ilbc.write(image))
    except CompileError as e:
        return error_value(e.render())
    except RecursionError:
        return error_value(f"{name}:1:1: error: program nested too deeply to compile")


@builtin("__ilu_load", 1)
def load(ctx: HostContext, b: Any) -> dict[str, Any]:
    """`{val: module object, err: nil}` after running an image's entry module, or `{val: nil, err}`
    when the image is not valid or its module failed."""
    from stage0.image import ilbc

    try:
        image = ilbc.read(bytes(want("__ilu_load", b, "buf")))
    except ImageError as e:
        return {"val": None, "err": f"not a valid image: {e}"}
    engine: Any = type(ctx)  # a VM class: the new VM is of the caller's kind
    vm = engine(image, args=list(ctx.args), out=ctx.out, err_out=ctx.err_out, caps=ctx.caps, fs_root=ctx.fs_root)
    vm.handles, vm.read_roots = ctx.handles, ctx.read_roots
    reused = []
    for m in vm.modules:  # a module the caller already ran is not run again
        done = _loaded(ctx, m.key)
        if done is not None and m is not vm.modules[image.entry]:
            m.state, m.export = type(m).DONE, done.export
            reused.append(done.globals)  # its private helpers too: its functions call them
    if reused and hasattr(vm, "adopt_reachable"):  # the fast tier learns the reused functions' prototypes
        vm.adopt_reachable(reused)
    try:
        export = vm.run_main()
    except RuntimeErr as e:
        return {"val": None, "err": e.message}
    finally:
        if vm.ceiling is not None:  # a pledge inside the loaded code narrows the caller too
            ctx.caps, ctx.ceiling, ctx.kern = ctx.caps & vm.ceiling, vm.ceiling, vm.kern
    adopt = getattr(ctx, "adopt_reachable", None)
    if adopt is not None:  # the fast tier learns the new functions' prototypes
        adopt([export])
    return {"val": export, "err": None}


def _loaded(ctx: HostContext, key: str) -> Any:
    """The caller's module `key` if it has run, else None."""
    for m in getattr(ctx, "modules", ()):
        if m.key == key and m.state == type(m).DONE:
            return m
    return None


@builtin("__ilu_dis", 1)
def dis(ctx: HostContext, b: Any) -> str | dict[str, Any]:
    """The disassembly of an image, as `ilusm dis` prints it, or {err} for bytes that are not one."""
    from stage0.image import ilbc
    from stage0.image.dis import disassemble

    try:
        return disassemble(ilbc.read(bytes(want("__ilu_dis", b, "buf"))))
    except ImageError as e:
        return error_value(f"not a valid image: {e}")
