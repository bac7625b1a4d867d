"""`ilusm fmt`: ilusm source in its one canonical layout.

The layout is decided by lib/stdlib/lay.ilu, written in ilusm over the
self-hosted parser and printer (ast.layout), run here on the fast tier. This
module finds the files, leaves generated ones alone (their generator owns
their layout), and writes a result back only after checking that it parses
to the same tree as the original: a formatter bug can never change what a
program means, and a file that does not parse is reported, not touched.
"""
from __future__ import annotations

import difflib
import functools
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from stage0.errors import EXIT_COMPILE, CompileError, RuntimeErr

# The first line of a generated file starts so (tools/gen_*.py write it).
GENERATED = "# GENERATED"


class LayoutBug(RuntimeErr):
    """The formatter's result would not parse to the original tree (the file is left alone)."""


@dataclass
class Outcome:
    """What formatting one file found: its text before and after, or why it was skipped."""

    path: Path
    before: str
    after: str
    skipped: str = ""

    @property
    def changed(self) -> bool:
        """Whether the layout differs (a skipped file never does)."""
        return not self.skipped and self.after != self.before

    def diff(self) -> str:
        """A unified diff from the file to its canonical layout."""
        name = str(self.path)
        lines = difflib.unified_diff(self.before.splitlines(keepends=True), self.after.splitlines(keepends=True),
                                     f"{name} (original)", f"{name} (formatted)")
        return "".join(lines)


@functools.lru_cache(maxsize=1)
def _lay() -> tuple[Any, dict[str, Any]]:
    """A fast-tier VM running lib/stdlib/lay.ilu (seed-compiled once per process), and the module."""
    from stage0.fast.vm import FastVM
    from stage0.paths import lib_root
    from stage0.seedc.driver import compile_file

    vm = FastVM(compile_file(lib_root() / "stdlib" / "lay.ilu"), out=io.StringIO(), caps=frozenset())
    return vm, vm.run_main()


def layout(src: str, name: str) -> str:
    """src in the canonical layout, keeping a leading byte-order mark and `\r\n` line ends (they
    belong to the file, not the program). A program that does not parse raises its CompileError
    (from the seed parser, which reports exactly what the self-hosted one does); a layout that
    would change the tree raises LayoutBug."""
    from stage0.paths import BOM
    from stage0.seedc.parser import parse

    mark = BOM if src.startswith(BOM) else ""
    body = src[len(mark):]
    parse(body, name)
    vm, lay = _lay()
    out: str = vm.call(lay["format"], [body, name])
    if not vm.call(lay["same"], [body, out]):
        raise LayoutBug(f"{name}: the formatted text would parse to a different tree; the file is left as it is "
                        "(a bug in ilusm fmt: please report it with the file)")
    return mark + (out.replace("\n", "\r\n") if "\r\n" in body else out)


def files(paths: Iterable[Path]) -> list[Path]:
    """The .ilu files named or found (recursively, in name order) under the given paths."""
    out: list[Path] = []
    for p in paths:
        out.extend(sorted(p.rglob("*.ilu")) if p.is_dir() else [p])
    return out


def read(path: Path) -> str:
    """A source file's text as it is (a byte-order mark kept); an unreadable or non-UTF-8 file
    is the compile error `ilusm run` reports for it."""
    from stage0.paths import read_source

    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        read_source(path)  # raises that CompileError
        raise


def format_file(path: Path) -> Outcome:
    """The outcome of formatting one file (nothing is written)."""
    before = read(path)
    if before.startswith(GENERATED):
        return Outcome(path, before, before, skipped="generated")
    return Outcome(path, before, layout(before, str(path)))


def write(outcome: Outcome) -> None:
    """Replace the file with its new layout atomically, keeping its permissions."""
    path = outcome.path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".fmt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(outcome.after)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run(paths: list[Path], check: bool, show_diff: bool, echo: Callable[..., None]) -> int:
    """`ilusm fmt`: format (or with check/show_diff only report) the files. A file that does not
    parse is reported and the rest go on. The exit status: 65 when a file did not parse, else 1
    when check found a file to change, else 0."""
    pending, status = 0, 0
    for path in files(paths):
        try:
            outcome = format_file(path)
        except CompileError as e:
            echo(e.render(), err=True)
            status = EXIT_COMPILE
            continue
        if outcome.skipped:
            echo(f"skipped {path} ({outcome.skipped})", err=True)
        elif outcome.changed:
            pending += 1
            report(outcome, check, show_diff, echo)
    if check:
        echo(f"{pending} file{'' if pending == 1 else 's'} would be reformatted" if pending
             else "every file is formatted", err=True)
    return status or (1 if check and pending else 0)


def report(outcome: Outcome, check: bool, show_diff: bool, echo: Callable[..., None]) -> None:
    """Show (show_diff), name (check) or write one changed file."""
    if show_diff:
        echo(outcome.diff(), nl=False)
    elif check:
        echo(f"would reformat {outcome.path}")
    else:
        write(outcome)
        echo(f"reformatted {outcome.path}", err=True)


def filter_stdin(read: Callable[[], str], echo: Callable[..., None]) -> int:
    """`ilusm fmt -`: standard input in the canonical layout on standard output."""
    echo(layout(read(), "<stdin>"), nl=False)
    return 0
