"""`ilusm repl`: an interactive session on the seed compiler and stage-0 VM.

Each entry is compiled as a small module whose globals persist across
entries. An entry that opens a block (a line ending in `:` or `=`, or open
brackets) continues until a blank line. When an entry ends in an expression
its value is printed and kept in `_`. Errors are printed and the session goes
on; end it with Ctrl-D.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from stage0 import ilbc
from stage0.errors import IlusmError
from stage0.seedc import ast as A

PROMPT, MORE = "ilusm> ", "  ...> "
_STATEMENTS = (A.Assign, A.Def, A.FnDef, A.Whl, A.For, A.Use, A.Ret, A.Brk, A.Cnt)


def needs_more(text: str) -> bool:
    """True while an entry is visibly unfinished."""
    depth = sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")
    last = text.rstrip().splitlines()[-1] if text.strip() else ""
    return depth > 0 or last.rstrip().endswith((":", "=", "\\"))


def parse_entry(source: str, file: str) -> A.Program:
    """Parse an entry; a final bare expression is assigned to `_` so it can be shown."""
    from stage0.seedc.parser import parse

    prog = parse(source, file)
    if prog.stmts:
        last = prog.stmts[-1]
        if not isinstance(last, _STATEMENTS) and not _is_print(last):
            prog.stmts[-1] = A.Assign(A.Name("_", line=last.line, col=last.col), "=", last,
                                      line=last.line, col=last.col)
    return prog


def _is_print(n: A.Node) -> bool:
    """A `prn ...` call shows its own output."""
    return isinstance(n, A.Call) and isinstance(n.fn, A.Name) and n.fn.name == "prn"


class Repl:
    """One interactive session."""

    def __init__(self, max_depth: int) -> None:
        self.max_depth = max_depth
        self.globals: dict[str, Any] = {}
        self.path = Path(os.getcwd()) / "<repl>.ilu"
        self._history()

    def _history(self) -> None:
        """Line editing and history, when readline is available."""
        try:
            import readline
        except ImportError:
            return
        hist = Path.home() / ".ilusm_history"
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
        import atexit

        atexit.register(lambda: _save_history(readline, hist))

    def read_entry(self) -> str | None:
        """Read one entry (several lines for a block); None at end of input."""
        lines: list[str] = []
        while True:
            try:
                line = input(MORE if lines else PROMPT)
            except EOFError:
                return "\n".join(lines) if lines else None
            if lines and not line.strip():
                return "\n".join(lines)
            lines.append(line)
            if not needs_more("\n".join(lines)):
                return "\n".join(lines)

    def eval(self, text: str) -> None:
        """Compile and run one entry, printing its value or its error."""
        from stage0.seedc.driver import compile_file
        from stage0.values import show
        from stage0.vm import VM

        self.globals.pop("_", None)
        image = ilbc.read(ilbc.write(compile_file(self.path, parse=parse_entry, source=text + "\n")))
        vm = VM(image, max_depth=self.max_depth)
        vm.modules[image.entry].globals = self.globals
        vm.run_main()
        if self.globals.get("_") is not None:
            print(show(self.globals["_"]))

    def loop(self) -> int:
        """Read-eval-print until end of input."""
        print("ilusm repl: blocks end with a blank line; Ctrl-D quits")
        while True:
            text = self.read_entry()
            if text is None:
                print()
                return 0
            if not text.strip():
                continue
            try:
                self.eval(text)
            except IlusmError as e:
                sys.stdout.flush()
                print(e.render(), file=sys.stderr)


def _save_history(readline: Any, path: Path) -> None:
    """Write the history file, ignoring failures."""
    try:
        readline.write_history_file(path)
    except OSError:
        pass
