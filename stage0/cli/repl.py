"""`ilusm repl`: an interactive session on the seed compiler and stage-0 VM.

Each entry is compiled as a small module whose globals persist across
entries; a module it `use`s runs once per session, as in a program. An entry
that opens a block (a line ending in `:` or `=`, or open brackets) or starts
with a one-line `if` (which `| ...` lines may continue) goes on until a blank
line. A `def` constant stays constant in later entries. When an entry ends in
an expression its value is printed and kept in `_`.

On a terminal, lines are edited with readline (arrows, history kept across
sessions in the user's data folder, Tab completing names and module members),
a container result is followed by its type and size, errors are printed and
the session goes on; Ctrl-C abandons the entry being typed or stops the one
running; end the session with Ctrl-D or `:quit`. Commands start with `:`
(COMMANDS lists them; `:help` prints it). With piped
input there are no prompts and, as with `python < script`, the first entry
that fails ends the session with its status (65 compile error, 70 runtime
error); Ctrl-C still only stops the running entry.

Lines are read on the main thread (so Ctrl-C reaches `input`); each entry
runs in the big-stack worker of `cli.in_big_stack`.
"""
from __future__ import annotations

import io
import os
import re
import sys
from functools import partial
from pathlib import Path
from typing import Any

from stage0 import syntax as A
from stage0.errors import EXIT_INTERRUPTED, CompileError
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.interp.loader import ModuleRT
from stage0.seedc.scope import walk_stmts

PROMPT, MORE = "ilusm> ", "  ...> "
# The REPL's commands and what they do (`:help` prints this).
COMMANDS = {
    ":help": "this list",
    ":dis EXPR": "the bytecode of an entry",
    ":ast EXPR": "the syntax tree of an entry",
    ":time EXPR": "run an entry and say how long it took",
    ":load FILE": "run a file's code in this session (its definitions stay)",
    ":reset": "forget every definition and loaded module",
    ":quit": "end the session (as Ctrl-D does)",
}
_IF = re.compile(r"if\b")


def needs_more(text: str) -> bool:
    """True while an entry is visibly unfinished: open brackets, or a line that opens a block.

    Once a line has opened a block, or a top-level `if` has been seen (a
    following `| ...` line may continue it), only a blank line ends the entry.
    """
    depth, lines = scan(text)
    return depth > 0 or any(line.endswith((":", "=", "\\")) or _IF.match(line) for line in lines)


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


def parse_entry(source: str, file: str, consts: frozenset[str] = frozenset()) -> A.Program:
    """Parse an entry; a final bare expression is assigned to `_` so it can be shown.

    Binding a name that an earlier entry made a `def` constant is the compile
    error a file would give.
    """
    from stage0.seedc.parser import parse
    from stage0.seedc.scope import bound_names

    prog = parse(source, file)
    for s in walk_stmts(prog.stmts):
        for name in bound_names(s):
            if name in consts:
                lines = source.splitlines()
                raise CompileError(f"cannot assign to constant '{name}'", file, s.line, s.col,
                                   lines[s.line - 1] if s.line <= len(lines) else None, kind="error")
    if prog.stmts:
        last = prog.stmts[-1]
        if last.kind != "stmt" and not _is_print(last):
            prog.stmts[-1] = A.Assign(A.Name("_", line=last.line, col=last.col), "=", last,
                                      line=last.line, col=last.col)
    return prog


def check_utf8(text: str, file: str) -> None:
    """A compile error at the first character of an entry that was not valid UTF-8 input."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        line = text.count("\n", 0, e.start) + 1
        col = e.start - text.rfind("\n", 0, e.start)
        raise CompileError("entry is not valid UTF-8", file, line, col, None, kind="error") from None


def _is_print(n: A.Node) -> bool:
    """A `prn ...` call shows its own output."""
    return isinstance(n, A.Call) and isinstance(n.fn, A.Name) and n.fn.name == "prn"


class Repl:
    """One session; `interactive` (a terminal on stdin) decides prompts and error handling."""

    def __init__(self, max_depth: int, interactive: bool | None = None) -> None:
        self.max_depth = max_depth
        self.interactive = sys.stdin.isatty() if interactive is None else interactive
        self.globals: dict[str, Any] = {}
        self.consts: set[str] = set()  # `def` names of earlier entries
        self.loaded: dict[str, dict[str, Any]] = {}  # module key -> export, across entries
        self.path = Path(os.getcwd()) / "<repl>.ilu"
        if self.interactive:
            self._history()

    def _history(self) -> None:
        """Line editing, history across sessions and Tab completion, when readline is available.

        `input()` edits with readline once the module is imported; it adds
        each line to the in-session history itself.
        """
        try:
            import readline
        except ImportError:
            return
        hist = history_path()
        try:
            readline.read_history_file(hist)
        except OSError:
            pass
        readline.set_completer(self.complete)
        readline.set_completer_delims(" \t\n()[]{},:=+-*/%<>!|")
        readline.parse_and_bind("tab: complete")
        import atexit

        atexit.register(lambda: _save_history(readline, hist))

    def complete(self, text: str, state: int) -> str | None:
        """readline's completer: globals, builtins and reserved words; after `name.`, the
        members of the object (a module) that name holds."""
        from stage0.host import all_builtins
        from stage0.values import RESERVED

        if "." in text:
            head, _, part = text.rpartition(".")
            obj = self.globals.get(head)
            names = [f"{head}.{k}" for k in obj if k.startswith(part)] if type(obj) is dict else []
        else:
            pool = set(self.globals) | set(all_builtins()) | set(RESERVED)
            names = sorted(n for n in pool if n.startswith(text) and (text.startswith("_") or not n.startswith("_")))
        return names[state] if state < len(names) else None

    def read_line(self, prompt: str) -> str:
        """One line without its newline; EOFError at end of input. Prompts only on a terminal."""
        if self.interactive:
            return input(prompt)
        line = sys.stdin.readline()
        if not line:
            raise EOFError
        return line[:-1] if line.endswith("\n") else line

    def read_entry(self) -> str | None:
        """Read one entry (several lines for a block); None at end of input."""
        lines: list[str] = []
        while True:
            try:
                line = self.read_line(MORE if lines else PROMPT)
            except EOFError:
                return "\n".join(lines) if lines else None
            if lines and not line.strip():
                return "\n".join(lines)
            lines.append(line)
            if not needs_more("\n".join(lines)):
                return "\n".join(lines)

    def eval(self, text: str) -> int:
        """Compile and run one entry, printing its value; errors propagate to `guarded`."""
        from stage0.interp.vm import VM

        self.globals.pop("_", None)
        image, prog = self.compile(text)
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
            # A constant is fixed once its `def` has run (a failed `def` may be typed again).
            self.consts |= {s.name for s in walk_stmts(prog.stmts) if isinstance(s, A.Def) and s.name in self.globals}
        if self.globals.get("_") is not None:
            print(self.shown(self.globals["_"]))
        return 0

    def shown(self, v: Any) -> str:
        """A result as the language prints it; on a terminal a container also says its type and size."""
        from stage0.values import show, type_name

        text = show(v)
        if self.interactive and type(v) in (list, dict, bytearray):
            unit = "byte" if type(v) is bytearray else "item"
            text += f"    ({type_name(v)}, {len(v)} {unit}{'' if len(v) == 1 else 's'})"
        return text

    def compile(self, text: str) -> tuple[Image, A.Program]:
        """The checked image of an entry and the entry's syntax tree."""
        from stage0.paths import display
        from stage0.seedc.driver import compile_file
        from stage0.seedc.parser import parse as plain

        check_utf8(text, display(self.path))
        entry: list[A.Program] = []

        def parse(source: str, file: str) -> A.Program:
            if entry:  # the loader parses the entry first, then the modules it uses, as in a program
                return plain(source, file)
            entry.append(parse_entry(source, file, frozenset(self.consts)))
            return entry[0]

        compiled = compile_file(self.path, parse=parse, source=text + "\n")
        image = ilbc.read(ilbc.write(compiled, verify=False))  # read() verifies it, once
        return image, entry[0]

    def loop(self) -> int:
        """Read-eval-print until end of input; the exit status (piped input stops at a failure)."""
        from stage0.cli.proc import in_big_stack

        if isinstance(sys.stdin, io.TextIOWrapper):
            # Entries are UTF-8 whatever the locale, as source files are; a bad byte is
            # kept (surrogateescape) so that `compile` can report it.
            sys.stdin.reconfigure(encoding="utf-8", errors="surrogateescape")
        self.say("ilusm repl: blocks and `if` end with a blank line; Ctrl-D quits")
        while True:
            try:
                text = self.read_entry()
            except KeyboardInterrupt:
                self.say("\n(interrupted; Ctrl-D quits)")
                continue
            if text is None:
                self.say("")
                return 0
            if text.strip().startswith(":"):
                if self.command(text.strip()) == "quit":
                    return 0
                continue
            if text.strip():
                status = in_big_stack(partial(self.eval, text))
                # Ctrl-C stops the running entry, not the session.
                if status not in (0, EXIT_INTERRUPTED) and not self.interactive:
                    return status

    def command(self, line: str) -> str:
        """Run a `:` command; "quit" ends the session."""
        from stage0.cli.proc import in_big_stack

        word, _, arg = line.partition(" ")
        if word == ":quit":
            return "quit"
        if word == ":help":
            print("\n".join(f"  {k:<12} {v}" for k, v in COMMANDS.items()))
        elif word == ":reset":
            self.globals.clear()
            self.consts.clear()
            self.loaded.clear()
            print("(the session is empty)")
        elif word in (":dis", ":ast", ":time", ":load") and arg.strip():
            in_big_stack(partial(self.run_command, word, arg.strip()))
        else:
            print(f"unknown command {line!r} (:help lists them)")
        return ""

    def run_command(self, word: str, arg: str) -> int:
        """`:dis`, `:ast`, `:time` or `:load` (errors reach `guarded`, as an entry's do)."""
        import time

        if word == ":dis":
            from stage0.image.dis import disassemble

            print(disassemble(self.compile(arg)[0]), end="")
        elif word == ":ast":
            print(A.dump(self.compile(arg)[1]))
        elif word == ":time":
            start = time.perf_counter()
            self.eval(arg)
            print(f"({(time.perf_counter() - start) * 1000:.3f} ms)")
        else:
            from stage0.paths import read_source

            self.eval(read_source(Path(arg)))
        return 0

    def say(self, text: str) -> None:
        """A message for the person at the terminal; none with piped input."""
        if self.interactive:
            print(text)


def history_path() -> Path:
    """Where the history lives: $ILUSM_HISTORY, else ilusm/history in the user's data folder
    ($XDG_DATA_HOME, by default ~/.local/share); the folder is made when missing."""
    explicit = os.environ.get("ILUSM_HISTORY")
    if explicit:
        return Path(explicit)
    data = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    folder = data / "ilusm"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass
    return folder / "history"


def _save_history(readline: Any, path: Path) -> None:
    """Write the history file, ignoring failures."""
    try:
        readline.write_history_file(path)
    except OSError:
        pass
