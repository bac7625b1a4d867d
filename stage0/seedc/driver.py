"""Whole-program compilation for the seed compiler: find modules, order, compile.

`use` names are static, so a program and everything it uses compile into one
image. Module keys are what the image records and traces show; they never
depend on where the tree sits on disk: files under the library root are
`lib/<path>`, other files are relative to the main file's folder.

Entry points: `compile_file(path)` for a program, `compile_tree(root)` for
every module of a folder (the toolchain image).
"""
from __future__ import annotations

import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional

from stage0 import syntax as A
from stage0.errors import CompileError
from stage0.host.registry import CAPS
from stage0.image.model import Image, ModuleEntry
from stage0.paths import LIB_SUBDIRS, display, lib_root, read_source
from stage0.seedc.compiler import compile_module
from stage0.seedc.emit import ImageBuilder

TOO_DEEP = "program nested too deeply to compile"
Parser = Callable[[str, str], A.Program]


def declared_caps(source: str, file: str) -> tuple[list[str], list[str]]:
    """The capabilities a module's leading comment block declares: `# @requires` (hard) and
    `# @uses` (soft, read by the audit only). An unknown name is a compile error at the name."""
    found: dict[str, list[str]] = {"requires": [], "uses": []}
    for n, line in enumerate(source.split("\n"), 1):
        text = line.strip()
        if text and not text.startswith("#"):
            break
        m = re.match(A.DECLARATION, line)
        if m is None:
            continue
        for name in re.finditer(A.CAP_NAME, m.group(2)):
            if name.group() not in CAPS:
                raise CompileError(f"unknown capability '{name.group()}'", file, n, m.start(2) + name.start() + 1,
                                   line.rstrip("\r"), kind="error")
            if name.group() not in found[m.group(1)]:
                found[m.group(1)].append(name.group())
    return found["requires"], found["uses"]






def existing_file(path: Path) -> Optional[Path]:
    """The resolved path when it names a regular file; None for anything else.

    A name no file can have (a NUL, a component past the OS's length limit)
    is simply not found, as in the self-hosted loader.
    """
    try:
        target = path.resolve()
        return target if target.is_file() else None
    except (OSError, ValueError):
        return None


class Module:
    """A source module found while resolving `use` statements."""

    def __init__(self, path: Path, key: str, source: str, prog: A.Program) -> None:
        self.path, self.key, self.source, self.prog = path, key, source, prog
        self.deps: dict[int, Path] = {}  # id(Use node) -> resolved file
        self.requires, self.uses = declared_caps(source, display(path))


class Loader:
    """Reads, parses and resolves modules, detecting import cycles."""

    def __init__(self, parse: Parser, base: Path, lib: Optional[Path] = None,
                 roots: Optional[tuple[str, ...]] = None) -> None:
        self.parse, self.base = parse, base
        self.lib = lib or lib_root()
        self.roots = roots  # the folders modules may come from (None: anywhere; see caps.module_roots)
        self.modules: dict[Path, Module] = {}
        self.active: list[Path] = []  # the modules being loaded, outermost first
        self.on_stack: dict[Path, int] = {}  # each active path -> its index in `active`; a list search per
        # `use` would make a chain of N modules cost N*N (a chain of 30,000 modules took minutes)

    def key(self, path: Path) -> str:
        """The module key recorded in the image."""
        try:
            return "lib/" + path.relative_to(self.lib).as_posix()
        except ValueError:
            return Path(os.path.relpath(path, self.base)).as_posix()

    def search_path(self, importer: Path) -> list[Path]:
        """Folders searched by `use name`, in the contract's order."""
        dirs = [importer.parent] + [self.lib / d for d in LIB_SUBDIRS]
        extra = os.environ.get("ILUSM_PATH", "")
        return dirs + [Path(p) for p in extra.split(os.pathsep) if p]

    def find(self, use: A.Use, importer: Path) -> Path:
        """The file a `use` statement names, or a compile error."""
        if use.path is not None:
            if not self.allowed(importer.parent / use.path):
                raise self.error(importer, use, f"module '{use.path}' is outside the sandbox")
            target = existing_file(importer.parent / use.path)
            if target is not None:
                return target
            what = f"module '{use.path}' not found"
        else:
            for d in self.search_path(importer):
                target = existing_file(d / f"{use.name}.ilu")
                if target is not None and self.allowed(target):
                    return target
            what = f"module '{use.name}' not found"
        raise self.error(importer, use, what)

    def allowed(self, path: Path) -> bool:
        """Whether a module file may be read from path (symlinks and `..` resolved)."""
        if self.roots is None:
            return True
        from stage0.host.caps import beneath

        try:
            real = os.path.realpath(path)
        except ValueError:
            return True  # a NUL: no such file, which find reports
        return any(beneath(real, r) for r in self.roots)

    def error(self, path: Path, node: A.Node, message: str) -> CompileError:
        """A compile error (kind `error`) at a node of a loaded module."""
        lines = self.modules[path].source.splitlines()
        src = lines[node.line - 1] if 0 < node.line <= len(lines) else None
        return CompileError(message, display(path), node.line, node.col, src, kind="error")

    def load(self, path: Path, source: Optional[str] = None) -> Module:
        """Load a module (from disk unless `source` is given) and everything it uses."""
        path = path.resolve()
        if path in self.modules:
            return self.modules[path]
        source = read_source(path) if source is None else source
        with too_deep(path):
            mod = Module(path, self.key(path), source, self.parse(source, display(path)))
            found = list(uses(mod.prog))
        self.modules[path] = mod
        self.on_stack[path] = len(self.active)
        self.active.append(path)
        for use in found:
            dep = self.find(use, path)
            if dep in self.on_stack:
                chain = self.active[self.on_stack[dep]:] + [dep]
                names = " -> ".join(self.modules[p].key for p in chain)
                raise self.error(path, use, f"import cycle: {names}")
            self.load(dep)
            mod.deps[id(use)] = dep
        del self.on_stack[self.active.pop()]
        return mod






def uses(node: object) -> Iterator[A.Use]:
    """Every `use` statement in a tree, in source order."""
    if isinstance(node, list):
        for x in node:
            yield from uses(x)
    elif isinstance(node, A.Use):
        yield node
    elif isinstance(node, A.Node):
        for v in vars(node).values():
            yield from uses(v)


@contextmanager
def too_deep(path: Path) -> Iterator[None]:
    """Host recursion running out (a chain of 1,000,000 operators) is a compile error, not a crash.

    The self-hosted pipeline reports its own `stack overflow` the same way.
    """
    try:
        yield
    except RecursionError:
        raise CompileError(TOO_DEEP, display(path), 1, 1, None, kind="error") from None


def build(loader: Loader, entry: Optional[Path]) -> Image:
    """Compile every loaded module, in key order, into one image."""
    ib = ImageBuilder()
    mods = sorted(loader.modules.values(), key=lambda m: m.key)
    index = {m.path: i for i, m in enumerate(mods)}
    for m in mods:
        def resolve(use: A.Use, m: Module = m) -> int:
            return index[m.deps[id(use)]]

        with too_deep(m.path):
            main = compile_module(ib, m.prog, display(m.path), m.source, resolve)
        key = ib.name(m.key)
        requires = tuple(ib.name(c) for c in m.requires)
        ib.image.modules.append(ModuleEntry(key, key, main, requires, tuple(ib.name(c) for c in m.uses)))
    ib.image.entry = index[entry] if entry is not None else 0
    return ib.image


def default_parser() -> Parser:
    """The seed parser."""
    from stage0.seedc.parser import parse

    return parse


def compile_file(path: str | Path, parse: Optional[Parser] = None, source: Optional[str] = None) -> Image:
    """Compile a program and every module it uses into an image."""
    return compile_with_sources(path, parse, source)[0]


def compile_with_sources(path: str | Path, parse: Optional[Parser] = None, source: Optional[str] = None,
                         roots: Optional[tuple[str, ...]] = None) -> tuple[Image, dict[str, str]]:
    """Like compile_file, also giving each module's source text by module key; with roots, every
    module the program uses must lie beneath one of those folders."""
    main = Path(path).resolve()
    loader = Loader(parse or default_parser(), main.parent, roots=roots)
    loader.load(main, source)
    return build(loader, main), {m.key: m.source for m in loader.modules.values()}


def compile_tree(root: str | Path, main: Optional[str] = None, parse: Optional[Parser] = None) -> Image:
    """Compile every `.ilu` file under root (sorted) into one image.

    `main` names the entry module's file relative to root (default: the first).
    """
    root = Path(root).resolve()
    loader = Loader(parse or default_parser(), root, lib=root)
    files = sorted(root.rglob("*.ilu"), key=lambda p: p.relative_to(root).as_posix())
    for f in files:
        loader.load(f)
    entry = (root / main).resolve() if main else (files[0].resolve() if files else None)
    return build(loader, entry)
