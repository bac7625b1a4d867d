"""What the generators share: ilusm literals, the staleness check, writing, the command line.

Each generator (gen_opcodes.py, gen_kernel.py, gen_nodes.py) computes
`expected(root)`, the text each generated file should hold, from one Python
source of truth; this module compares it with the checked-in files
(`stale`), rewrites what differs (`generate`) and gives every generator the
same `[--check]` command line.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
# Run as `python tools/gen_X.py`, Python puts tools/ on the path, not the repository root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

Expected = Callable[[Path], dict[Path, str]]


def ilu_value(v: int | str | bool | None) -> str:
    """An ilusm literal for a table cell (nil, booleans, numbers and plain ASCII strings only)."""
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "tru" if v else "fls"
    if isinstance(v, int):
        return str(v)
    assert v.isprintable() and '"' not in v and "\\" not in v and "{" not in v, v
    return f'"{v}"'


def ilu_list(values: tuple[int | str, ...] | list[str]) -> str:
    """An ilusm list literal of table cells."""
    return "[" + ", ".join(ilu_value(v) for v in values) + "]"


def stale(expected: Expected, root: Path | None = None) -> list[str]:
    """Relative paths of the generated files that differ from what would be generated."""
    root = root or ROOT
    return [rel.as_posix() for rel, text in expected(root).items()
            if not (root / rel).exists() or (root / rel).read_bytes() != text.encode("utf-8")]


def generate(expected: Expected, root: Path | None = None) -> list[str]:
    """Rewrite every stale generated file; return the paths written."""
    root = root or ROOT
    written = []
    for rel, text in expected(root).items():
        path = root / rel
        if not path.exists() or path.read_bytes() != text.encode("utf-8"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))  # bytes: no platform newline translation
            written.append(rel.as_posix())
    return written


def main(script: str, expected: Expected, argv: list[str], root: Path | None = None) -> int:
    """`python tools/SCRIPT [--check]`; exit status 1 when --check finds a stale file, 2 on bad usage."""
    if argv not in ([], ["--check"]):
        print(f"usage: python tools/{script} [--check]", file=sys.stderr)
        return 2
    if argv:
        bad = stale(expected, root)
        for rel in bad:
            print(f"stale: {rel} (run python tools/{script})", file=sys.stderr)
        return 1 if bad else 0
    for rel in generate(expected, root):
        print(f"wrote {rel}")
    return 0
