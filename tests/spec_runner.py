"""Reads `# expect` annotations of spec programs and checks a run against them.

The annotation format is the one of ../shared/tools/conform.py:
  # expect: TEXT                 next line of standard output
  # expect runtime error: MSG    exit 70, stderr holds "error: MSG"
  # expect syntax error: LINE    exit 65, no stdout, stderr holds "FILE:LINE:"
  # expect stderr: TEXT          stderr holds TEXT
Files without annotations are helpers (modules other tests use).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

EXPECT = re.compile(r"#\s*expect:\s?(.*)$")
RUNTIME = re.compile(r"#\s*expect runtime error:\s*(.*)$")
SYNTAX = re.compile(r"#\s*expect syntax error:\s*(\d+)")
STDERR = re.compile(r"#\s*expect stderr:\s*(.*)$")


@dataclass
class Expect:
    """What a spec program says it does."""

    out: list[str] = field(default_factory=list)
    runtime: Optional[str] = None
    syntax: Optional[int] = None
    err: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True for helper modules without annotations."""
        return not self.out and self.runtime is None and self.syntax is None


def expectations(path: Path) -> Expect:
    """Parse the annotations of one program."""
    e = Expect()
    for line in path.read_text(encoding="utf-8").splitlines():
        if m := STDERR.search(line):
            e.err.append(m.group(1).strip())
        elif m := RUNTIME.search(line):
            e.runtime = m.group(1).strip()
        elif m := SYNTAX.search(line):
            e.syntax = int(m.group(1))
        elif m := EXPECT.search(line):
            e.out.append(m.group(1).rstrip())
    return e


def verdict(path: Path, e: Expect, status: int, out: str, err: str) -> str:
    """Empty when the run matches the annotations, else why not."""
    for text in e.err:
        if text not in err:
            return f"stderr should hold {text!r}; got {err.strip()[:300]!r}"
    if e.syntax is not None:
        if status != 65 or f"{path.name}:{e.syntax}:" not in err or out.strip():
            return f"expected compile error at line {e.syntax} (exit 65); got exit {status}, stderr {err[:300]!r}"
        return ""
    got = [line.rstrip() for line in out.splitlines()]
    if got != e.out:
        nl = "\n"
        return (f"stdout differs:{nl}--- expected{nl}{nl.join(e.out)}{nl}--- got{nl}{nl.join(got)}{nl}"
                f"--- stderr{nl}{err[:500]}")
    if e.runtime is not None:
        if status != 70 or f"error: {e.runtime}" not in err:
            return f"expected runtime error {e.runtime!r} (exit 70); got exit {status}, stderr {err[:300]!r}"
        return ""
    return "" if status == 0 else f"exit status {status}; stderr {err[:300]!r}"


def spec_files(*roots: Path) -> list[Path]:
    """Every annotated program under the roots, sorted."""
    files = [p for r in roots if r.is_dir() for p in sorted(r.rglob("*.ilu"))]
    return [p for p in files if not expectations(p).empty]
