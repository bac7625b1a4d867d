"""An ILBC-aware diff: say which pool entry, function and instruction differ.

Used by the bootstrap when two images that should be identical are not. A
byte diff of two images says little; this names the first differing
constant, name, module or function, and shows the function's disassembly
side by side as a unified diff.
"""
from __future__ import annotations

import difflib

from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.image.dis import disassemble_func
from stage0.image.model import Image


def explain(a: bytes, b: bytes, label_a: str = "a", label_b: str = "b") -> str:
    """A readable account of how two images differ ("" when they are identical)."""
    if a == b:
        return ""
    try:
        ia, ib = ilbc.read(a), ilbc.read(b)
    except ImageError as e:
        return f"cannot compare: {e}"
    return "\n".join(_pools(ia, ib) + _modules(ia, ib) + _funcs(ia, ib, label_a, label_b)) or \
        f"images differ in bytes only ({len(a)} vs {len(b)} bytes) but decode to the same content"


def _first_diff(xs: list[object], ys: list[object], what: str) -> list[str]:
    """One line naming the first differing entry of two pools."""
    for i, (x, y) in enumerate(zip(xs, ys)):
        if x != y or type(x) is not type(y):
            return [f"{what} #{i} differs: {x!r} vs {y!r}"]
    if len(xs) != len(ys):
        return [f"{what}: {len(xs)} vs {len(ys)} entries"]
    return []


def _pools(a: Image, b: Image) -> list[str]:
    """Differences in the constant and name pools."""
    return _first_diff(list(a.consts), list(b.consts), "constant") + \
        _first_diff(list(a.names), list(b.names), "name")


def _modules(a: Image, b: Image) -> list[str]:
    """Differences in the module table and entry."""
    ma = [(a.names[m.name], m.main) for m in a.modules]
    mb = [(b.names[m.name], m.main) for m in b.modules]
    out = _first_diff(list(ma), list(mb), "module")
    if a.entry != b.entry:
        out.append(f"entry module: #{a.entry} vs #{b.entry}")
    return out


def _funcs(a: Image, b: Image, label_a: str, label_b: str) -> list[str]:
    """The first differing function, as a unified diff of its disassembly."""
    if len(a.funcs) != len(b.funcs):
        return [f"functions: {len(a.funcs)} vs {len(b.funcs)}"]
    for i, (fa, fb) in enumerate(zip(a.funcs, b.funcs)):
        if fa != fb:
            name = a.names[fa.name] if fa.name < len(a.names) else f"#{i}"
            da = disassemble_func(a, i).splitlines()
            db = disassemble_func(b, i).splitlines()
            diff = difflib.unified_diff(da, db, label_a, label_b, lineterm="", n=2)
            return [f"function #{i} ({name}) differs:"] + list(diff)
    return []
