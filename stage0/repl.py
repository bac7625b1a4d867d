"""`ilusm repl`: an interactive session on the seed compiler and stage-0 VM.

Each entry is compiled as a small module whose globals persist across
entries; a module it `use`s runs once per session, as in a program. An entry
that opens a block (a line ending in `:` or `=`, or open brackets) continues
until a blank line. When an entry ends in an expression its value is printed
and kept in `_`. Errors are printed and the session goes on; Ctrl-C abandons
the entry being typed or stops the one running; end the session with Ctrl-D.

Lines are read on the main thread (so Ctrl-C reaches `input`); each entry
runs in the big-stack worker of `cli.in_big_stack`.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from stage0 import ilbc
from stage0.loader import ModuleRT
from stage0.seedc import ast as A

PROMPT, MORE = "ilusm> ", "  ...> "
_STATEMENTS = (A.Assign, A.Def, A.FnDef, A.Whl, A.For, A.Use, A.Ret, A.Brk, A.Cnt)


def needs_more(text: str) -> bool:
    """True while an entry is visibly unfinished: open brackets, or a line that opens a block.

    Once a line has opened a block, only a blank line ends the entry.
    """
    depth, lines = scan(text)
    return depth > 0 or any(line.endswith((":", "=", "\\")) for line in lines)


def scan(text: str) -> tuple[int, list[str]]:
    """Open-bracket depth and each line's code with strings and comments left out."""
    depth, quote, code, lines = 0, "", [], []
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote or c == "\n":
                quote = ""
        elif c == "#":
            while i + 1 < len(text) and text[i + 1] != "\n":
                i += 1
        elif c in "\"'":
            quote = c
            code.append(c)
        elif c == "\n":
            lines.append("".join(code).rstrip())
            code = []
        else:
            depth += (c in "([{") - (c in ")]}")
            code.append(c)
        i += 1
    return depth, lines + ["".join(code).rstrip()]


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
        self.loaded: dict[str, dict[str, Any]] = {}  # module key -> export, across entries
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

    def eval(self, text: str) -> int:
        """Compile and run one entry, printing its value; errors propagate to `guarded`."""
        from stage0.seedc.driver import compile_file
        from stage0.values import show
        from stage0.vm import VM

        self.globals.pop("_", None)
        image = ilbc.read(ilbc.write(compile_file(self.path, parse=parse_entry, source=text + "\n")))
        vm = VM(image, max_depth=self.max_depth)
        vm.modules[image.entry].globals = self.globals
        for m in vm.modules:
            if m.key in self.loaded and m is not vm.modules[image.entry]:
                m.state, m.export = ModuleRT.DONE, self.loaded[m.key]
        try:
            vm.run_main()
        finally:
            self.loaded.update((m.key, m.export) for m in vm.modules
                               if m.state == ModuleRT.DONE and m is not vm.modules[image.entry])
        if self.globals.get("_") is not None:
            print(show(self.globals["_"]))
        return 0

    def loop(self) -> int:
        """Read-eval-print until end of input."""
        from stage0.cli import in_big_stack

        print("ilusm repl: blocks end with a blank line; Ctrl-D quits")
        while True:
            try:
                text = self.read_entry()
            except KeyboardInterrupt:
                print("\n(interrupted; Ctrl-D quits)")
                continue
            if text is None:
                print()
                return 0
            if text.strip():
                in_big_stack(partial(self.eval, text))


def _save_history(readline: Any, path: Path) -> None:
    """Write the history file, ignoring failures."""
    try:
        readline.write_history_file(path)
    except OSError:
        pass
