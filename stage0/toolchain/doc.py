"""`ilusm doc MODULE[.NAME]`: a module's and its functions' `#` comments and signatures, as pydoc shows Python's.

MODULE is a library module's name (found as `use` finds it) or the path of a
`.ilu` file. A module's documentation is its first comment block; a function's
(or a value's) is the block of `#` lines right above its definition. Names
that start with `_` are private and not shown. The library's own convention
(tests/test_doc.py checks it) is that every public function has such a comment.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from stage0 import syntax as A
from stage0.errors import UsageError


@dataclass
class Entry:
    """One public name of a module: its signature (or `name = ...`) and its comment."""

    name: str
    signature: str
    comment: str
    is_fn: bool


def find_module(name: str) -> Path:
    """The file of a library module or a path; a usage error when there is none."""
    from stage0.paths import LIB_SUBDIRS, lib_root

    if name.endswith(".ilu") or "/" in name:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"no such file: {name}")
        return path
    for d in LIB_SUBDIRS:
        path = lib_root() / d / f"{name}.ilu"
        if path.is_file():
            return path
    raise UsageError(f"no module named {name!r} in the library ({', '.join(LIB_SUBDIRS)})")


def _comment_above(lines: list[str], line: int) -> str:
    """The `#` lines right above line (1-based), without their `#`."""
    out: list[str] = []
    i = line - 2
    while i >= 0 and lines[i].lstrip().startswith("#"):
        out.append(lines[i].lstrip()[1:].strip())
        i -= 1
    return "\n".join(reversed(out))


def module_comment(lines: list[str]) -> str:
    """The module's first comment block (its `# @requires` lines included)."""
    out: list[str] = []
    for text in lines:
        if not text.lstrip().startswith("#"):
            break
        out.append(text.lstrip()[1:].strip())
    return "\n".join(out).strip()


def entries(path: Path) -> tuple[str, list[Entry]]:
    """The module comment and the public top-level definitions of a module file, in source order."""
    from stage0.paths import read_source
    from stage0.seedc.parser import parse

    source = read_source(path)
    lines = source.splitlines()
    found: list[Entry] = []
    for s in parse(source, str(path)).stmts:
        if isinstance(s, A.FnDef) and not s.name.startswith("_"):
            sig = f"{s.name}({', '.join(s.params)})"
            found.append(Entry(s.name, sig, _comment_above(lines, s.line), True))
        elif (name := _value_name(s)) is not None:
            text = lines[s.line - 1].strip() if s.line <= len(lines) else name
            found.append(Entry(name, text, _comment_above(lines, s.line), False))
    return module_comment(lines), found


def _value_name(s: A.Node) -> Optional[str]:
    """The public name a top-level `def` or assignment binds, else None."""
    if isinstance(s, A.Def):
        name: Optional[str] = s.name
    elif isinstance(s, A.Assign) and isinstance(s.target, A.Name) and s.op == "=":
        name = s.target.name
    else:
        return None
    return None if name is None or name.startswith("_") else name


def render(target: str) -> str:
    """The documentation text for MODULE or MODULE.NAME."""
    module, _, name = target.partition(".") if not target.endswith(".ilu") and "/" not in target else (target, "", "")
    path = find_module(module)
    about, found = entries(path)
    if name:
        for e in found:
            if e.name == name:
                return f"{module}.{e.signature}\n" + _indent(e.comment or "(no comment)") + "\n"
        raise UsageError(f"module {module} has no public name {name!r}")
    return _module_text(module, path, about, found)


def _indent(text: str, by: str = "    ") -> str:
    return "\n".join(by + line if line else "" for line in text.splitlines())


def _module_text(module: str, path: Path, about: str, found: list[Entry]) -> str:
    """The whole module's page."""
    out = [f"{module} ({_shown(path)})", "", _indent(about or "(no module comment)"), ""]
    for title, fns in (("FUNCTIONS", True), ("VALUES", False)):
        part = [e for e in found if e.is_fn == fns]
        if part:
            out.append(title)
            for e in part:
                out.append(f"  {e.signature}")
                if e.comment:
                    out.append(_indent(e.comment, "      "))
            out.append("")
    return "\n".join(out)


def _shown(path: Path) -> str:
    """A library file as lib/..., another as given."""
    from stage0.paths import lib_root

    try:
        return "lib/" + path.resolve().relative_to(lib_root()).as_posix()
    except ValueError:
        return str(path)


def doc_names(module: str) -> Optional[list[str]]:
    """The public function names of a library module (for the docs check), or None if there is none."""
    try:
        return [e.name for e in entries(find_module(module))[1] if e.is_fn]
    except UsageError:
        return None
