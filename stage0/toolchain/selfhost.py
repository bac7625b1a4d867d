"""The self-hosted toolchain seen from the host: load an image, ask it to compile.

A toolchain image (build/stage1.ilbc, build/stage2.ilbc, the committed
ilusm.ilbc) has `lib/backend/compile_pipeline.ilu` as its entry module, which
exports `compile_file(path)` and `compile_tree(root, main)`. Both return the
ILBC bytes as a buf, or an error object `{err, kind, file, line, col}` for a
compile error, which becomes the host's CompileError (same format, exit 65).
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Iterator, Optional

from stage0.errors import CompileError, UsageError
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.paths import BOM, COMMITTED_IMAGE, MAIN_MODULE, lib_root

DEFAULT_ENGINE = "ref"
# From this many bytes of main source up, the toolchain runs on the fast tier:
# it compiles 5-10x faster there, but first translates the ~200 compiler
# functions it touches (about 0.1 s), which a small program would not repay
# (numbers in docs/fast_tier.md). The bytes produced are the same either way.
FAST_FROM_BYTES = 4096
# The toolchain's recursion limit: the compiler is trusted code, and a chain of
# 100,000 operators recurses that deep (the user's --max-depth is for the program).
TOOLCHAIN_DEPTH = 1_000_000



def toolchain_bytes() -> bytes:
    """The committed toolchain image; without one (an installed copy), lib/ compiled by the seed.

    The two are byte-identical (bootstrap stage2 checks it), so the fallback
    runs the same compiler.
    """
    if COMMITTED_IMAGE.is_file():
        return COMMITTED_IMAGE.read_bytes()
    from stage0.seedc.driver import compile_tree

    return ilbc.write(compile_tree(lib_root(), MAIN_MODULE))


def sources_for(image: Image, main: Path) -> dict[str, str]:
    """Source text by module key, for the disassembler (keys: lib/... or relative to main)."""
    out: dict[str, str] = {}
    for m in image.modules:
        key = image.names[m.name]
        path = lib_root() / key[4:] if key.startswith("lib/") else main.resolve().parent / key
        try:
            out[key] = path.read_text(encoding="utf-8").removeprefix(BOM)
        except (OSError, UnicodeDecodeError):
            continue
    return out


def toolchain_env() -> None:
    """The environment the toolchain reads: ILUSM_LIB names the library (lib/ by default)."""
    os.environ.setdefault("ILUSM_LIB", str(lib_root()))


class Toolchain:
    """A loaded toolchain image, ready to compile."""

    def __init__(self, data: bytes, engine: str = "fast", max_depth: int = TOOLCHAIN_DEPTH) -> None:
        toolchain_env()
        image = ilbc.read(data)
        self.vm = make_vm(image, engine, max_depth)
        self.exports: dict[str, Any] = self.vm.run_main()

    def call(self, name: str, *args: Any) -> Any:
        """Call an exported function of the pipeline module."""
        fn = self.exports.get(name)
        if fn is None:
            raise UsageError(f"the toolchain image does not export {name}")
        return self.vm.call(fn, list(args))

    @contextlib.contextmanager
    def probing(self, probes: Any) -> Iterator[None]:
        """While compiling one program: note each call of a capability builtin in probes
        (stage0/toolchain/progcache.py: Probes)."""
        ctx = getattr(self.vm, "host", self.vm)
        ctx.probes = probes
        try:
            yield
        finally:
            ctx.probes = None

    @contextlib.contextmanager
    def confined(self, root: Optional[str], read_roots: tuple[str, ...]) -> Iterator[None]:
        """While compiling one program: its files are confined beneath root, and the library and
        read_roots may be read as well (None: unconfined, as the toolchain runs otherwise)."""
        ctx = getattr(self.vm, "host", self.vm)  # the self-hosted VM's builtins run on its host VM
        ctx.fs_root, ctx.read_roots = root, read_roots
        try:
            yield
        finally:
            ctx.fs_root, ctx.read_roots = None, ()

    def compile_file(self, path: str | Path) -> bytes:
        """ILBC bytes of a program and its modules."""
        return self.result(self.call("compile_file", str(path)), Path(path))

    def compile_tree(self, root: str | Path, main: Optional[str]) -> bytes:
        """ILBC bytes of every module under root."""
        return self.result(self.call("compile_tree", str(root), main), None)

    def result(self, r: Any, path: Optional[Path]) -> bytes:
        """Bytes from a buf, or the CompileError an error object describes."""
        if isinstance(r, bytearray):
            return bytes(r)
        if isinstance(r, dict) and r.get("err") is not None:
            raise to_compile_error(r, path)
        raise CompileError(f"the self-hosted compiler returned {type(r).__name__}", str(path or "?"), 1, 1)


def to_compile_error(r: dict[str, Any], path: Optional[Path]) -> CompileError:
    """A host CompileError from the pipeline's error object (its `src` is the source line, or nil)."""
    file = str(r.get("file") or path or "?")
    line, col = int(r.get("line") or 1), int(r.get("col") or 1)
    src = r.get("src")
    kind = str(r.get("kind") or "error")
    return CompileError(str(r["err"]), file, line, col, src if isinstance(src, str) else None, kind=kind)


def make_vm(image: Image, engine: str, max_depth: int) -> Any:
    """A VM of the chosen engine for an image; with ILUSM_JIT_TOOLCHAIN=on every engine runs the
    toolchain with the tracing JIT (bootstrap.py checks the bytes are the same)."""
    from stage0.jit.runtime import toolchain_jit

    jit = toolchain_jit()
    if engine == "vm":
        from stage0.toolchain.selfvm import SelfHostedVM

        return SelfHostedVM(image, max_depth=max_depth, jit=jit)
    if engine == "fast":
        from stage0.fast.vm import FastVM

        return FastVM(image, max_depth=max_depth, jit=jit)
    from stage0.interp.vm import VM

    return VM(image, max_depth=max_depth, jit=jit)



_CACHE: dict[str, Toolchain] = {}


def default_toolchain(engine: str = DEFAULT_ENGINE) -> Toolchain:
    """The committed toolchain on `engine`, loaded once per process."""
    if engine not in _CACHE:
        _CACHE[engine] = Toolchain(toolchain_bytes(), engine=engine)
    return _CACHE[engine]


def engine_for(path: Path) -> str:
    """The engine that compiles the program at `path` sooner, judged by its size."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return "fast" if size >= FAST_FROM_BYTES else DEFAULT_ENGINE
