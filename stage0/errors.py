"""The one exception hierarchy of the host, and the exit codes the contract sets.

IlusmError is the root. CompileError (exit 65) covers everything found before
a program runs; RuntimeErr (exit 70) is an ilusm runtime error and carries the
trace; ImageError (exit 1) is a truncated, corrupt or wrong-version ILBC image;
UsageError (exit 2) is a wrong command line; OutputError (exit 70) is a
failed write to standard output (a full disk, a closed descriptor).
"""
from __future__ import annotations

from typing import Any, Callable, Union

EXIT_OK = 0
EXIT_IMAGE = 1
EXIT_USAGE = 2
EXIT_COMPILE = 65
EXIT_RUNTIME = 70
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

# The runtime error a host MemoryError becomes on every engine (`try` catches it).
OUT_OF_MEMORY = "out of memory"


class IlusmError(Exception):
    """Base of every error the host reports to a user."""

    exit_code = EXIT_RUNTIME

    def render(self) -> str:
        """The text printed to standard error."""
        return f"error: {self}"


class CompileError(IlusmError):
    """A syntax or compile error at FILE:LINE:COL, shown with the source line."""

    exit_code = EXIT_COMPILE

    def __init__(self, message: str, file: str, line: int, col: int,
                 source_line: str | None = None, kind: str = "syntax error") -> None:
        super().__init__(message)
        self.message, self.file, self.line, self.col = message, file, line, col
        self.source_line, self.kind = source_line, kind

    def render(self) -> str:
        """`FILE:LINE:COL: KIND: MESSAGE`, the source line and a caret."""
        head = f"{self.file}:{self.line}:{self.col}: {self.kind}: {printable(self.message)}"
        if self.source_line is None:
            return head
        text = printable(self.source_line.rstrip("\r\n"))
        return f"{head}\n    {text}\n    {caret_lead(text, self.col - 1)}^"


# Code points a terminal shows two cells wide (East Asian wide and fullwidth:
# Hangul, CJK, kana, fullwidth forms, emoji). Our own table, not unicodedata's,
# so a caret lands in the same place on every Python version; the self-hosted
# pipeline gets it through tools/gen_kernel.py.
WIDE_RANGES = (
    (0x1100, 0x115F), (0x2E80, 0x303E), (0x3041, 0x33FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF),
    (0xA000, 0xA4CF), (0xAC00, 0xD7A3), (0xF900, 0xFAFF), (0xFE30, 0xFE4F), (0xFF00, 0xFF60),
    (0xFFE0, 0xFFE6), (0x1F300, 0x1F64F), (0x1F900, 0x1F9FF), (0x20000, 0x2FFFD), (0x30000, 0x3FFFD),
)


def printable(text: str) -> str:
    """A source line safe to echo: control characters (a stray CR, a NUL) become U+FFFD."""
    return "".join("\ufffd" if (ord(c) < 32 and c != "\t") or ord(c) == 127 else c for c in text)


def caret_lead(text: str, before: int) -> str:
    """What goes under the first `before` characters of `text`, so a caret after it points at the next.

    A tab is copied (it lines up in any terminal), a wide character takes two
    spaces, anything else one.
    """
    return "".join("\t" if c == "\t" else "  " if is_wide(c) else " " for c in text[:max(before, 0)])


def is_wide(c: str) -> bool:
    """Whether a terminal shows the character two cells wide (WIDE_RANGES)."""
    n = ord(c)
    return any(lo <= n <= hi for lo, hi in WIDE_RANGES)


# One entry of a trace: a site (name, file, line[, locals text]) or a count of tail calls (TailCalls).
Entry = Union[tuple[Any, ...], "TailCalls"]


class RuntimeErr(IlusmError):
    """An ilusm runtime error; `trace` lists (name, file, line), outermost first, each with the
    frame's locals text as a fourth item when the VM shows locals (`ilusm run --locals`)."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self._trace: list[Entry] | None = None
        # How to build the trace when someone asks: most errors are caught by
        # `try` and never shown, and building one costs O(depth).
        self.pending: Callable[[], list[Entry]] | None = None
        # How a recorded module name is shown (the CLI sets it: the path from
        # the working folder, as in compile errors); None shows it as recorded.
        self.place: Callable[[str], str] | None = None

    @property
    def trace(self) -> list[Entry] | None:
        """The trace, built on first use."""
        if self._trace is None and self.pending is not None:
            self._trace, self.pending = self.pending(), None
        return self._trace

    @trace.setter
    def trace(self, value: list[Entry] | None) -> None:
        self._trace, self.pending = value, None

    def traced(self) -> bool:
        """Whether the trace is recorded (or ready to be built)."""
        return self._trace is not None or self.pending is not None

    def render(self) -> str:
        """`error: MESSAGE` then one `  at NAME (FILE:LINE)` line per call, runs collapsed; a site
        that carries its frame's locals (`ilusm run --locals`) adds them on an indented line, and
        frames tail calls removed are counted on a line of their own (`  ... 2 tail calls ...`)."""
        place = self.place or str
        sites: list[tuple[str, str]] = []
        for s in self.trace or []:
            if isinstance(s, TailCalls):
                sites.append((s.line(), ""))
            else:
                sites.append((f"  at {s[0]} ({place(s[1])}:{s[2]})", s[3] if len(s) > 3 else ""))
        return "\n".join([f"error: {self.message}"] + collapse_runs(sites))


class TailCalls(int):
    """A trace entry between two sites: the number of frames tail calls removed there (each
    engine counts them; Lua shows the same gap as `(...tail calls...)`)."""

    def line(self) -> str:
        """`  ... 3 tail calls ...`."""
        return f"  ... {int(self)} tail call{'' if self == 1 else 's'} ..."


# A run of identical trace lines longer than this prints this many, then one summary line.
RUN_SHOWN = 3


def collapse_runs(sites: list[tuple[str, str]]) -> list[str]:
    """The lines of (trace line, locals) sites, each run of more than RUN_SHOWN equal trace lines
    cut to RUN_SHOWN and a count; a site's locals, when it has them, follow its line. A tail-call
    line goes with the site after it, so a recursion through tail calls collapses too.

    A stack overflow would otherwise print one line per frame (10,000 by default).
    """
    units: list[list[tuple[str, str]]] = []
    for site in sites:
        if units and units[-1][-1][0].startswith("  ..."):
            units[-1].append(site)
        else:
            units.append([site])
    out: list[str] = []
    i = 0
    while i < len(units):
        key = [line for line, _ in units[i]]
        j = i
        while j < len(units) and [line for line, _ in units[j]] == key:
            j += 1
        for unit in units[i:min(j, i + RUN_SHOWN)]:
            for line, local in unit:
                out += [line, f"      {local}"] if local else [line]
        if j - i > RUN_SHOWN:
            what = "the line above" if len(key) == 1 else f"the {len(key)} lines above"
            out.append(f"  ... {what} repeated {j - i - RUN_SHOWN} more times")
        i = j
    return out


def arity_message(name: str, want: int, got: int) -> str:
    """`add expects 2 arguments, got 3`: a call with the wrong count, on every engine (the
    self-hosted VM and evaluator ask for it through `__vm_arity`)."""
    noun = "argument" if want == 1 else "arguments"
    return f"{name} expects {want} {noun}, got {got}"


class ImageError(IlusmError):
    """A truncated, corrupt or wrong-version ILBC image."""

    exit_code = EXIT_IMAGE

    def render(self) -> str:
        """One line: `error: bad image: WHY`."""
        return f"error: bad image: {self}"


class UsageError(IlusmError):
    """A wrong command line."""

    exit_code = EXIT_USAGE


class OutputError(IlusmError):
    """Standard output could not be written; not catchable by `try`."""

    exit_code = EXIT_RUNTIME

    def render(self) -> str:
        """One line: `error: cannot write to standard output: WHY`."""
        return f"error: cannot write to standard output: {self}"
