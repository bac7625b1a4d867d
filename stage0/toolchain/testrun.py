"""`ilusm test [PATHS]`: a project's own tests, and the annotation format they share with tests/spec.

Two kinds of test file, found under the paths given (default: the working folder):
- **annotated programs**: any `.ilu` file with `# expect` annotations (the
  format of tests/spec/README.md and ../shared/tools/conform.py):
    # expect: TEXT                 next line of standard output
    # expect runtime error: MSG    exit 70, stderr holds "error: MSG"
    # expect syntax error: LINE    exit 65, no stdout, stderr holds "FILE:LINE:"
    # expect stderr: TEXT          stderr holds TEXT
  each runs as `ilusm run` would, from its own folder;
- **test modules**: files named `test_*.ilu` or `*_test.ilu` without
  annotations, whose functions named `test_*` (taking no arguments) are each
  a test: one passes when it returns, fails when it raises (`asr` is the usual way).
A failure shows why (a unified diff of expected and actual output); the
last line is `N passed, M failed`.
"""
from __future__ import annotations

import difflib
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

EXPECT = re.compile(r"#\s*expect:\s?(.*)$")
RUNTIME = re.compile(r"#\s*expect runtime error:\s*(.*)$")
SYNTAX = re.compile(r"#\s*expect syntax error:\s*(\d+)")
STDERR = re.compile(r"#\s*expect stderr:\s*(.*)$")


@dataclass
class Expect:
    """What an annotated program says it does."""

    out: list[str] = field(default_factory=list)
    runtime: Optional[str] = None
    syntax: Optional[int] = None
    err: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """True for files without annotations (helper modules, test modules)."""
        return not self.out and self.runtime is None and self.syntax is None


def expectations(path: Path) -> Expect:
    """Parse the annotations of one program."""
    e = Expect()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
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
    """Empty when a run matches the annotations, else why not."""
    for text in e.err:
        if text not in err:
            return f"stderr should hold {text!r}; got {err.strip()[:300]!r}"
    if e.syntax is not None:
        if status != 65 or f"{path.name}:{e.syntax}:" not in err or out.strip():
            return f"expected compile error at line {e.syntax} (exit 65); got exit {status}, stderr {err[:300]!r}"
        return ""
    got = [line.rstrip() for line in out.splitlines()]
    if got != e.out:
        diff = difflib.unified_diff(e.out, got, "expected", "actual", lineterm="")
        return "stdout differs:\n" + "\n".join(diff) + (f"\n--- stderr\n{err[:500]}" if err else "")
    if e.runtime is not None:
        if status != 70 or f"error: {e.runtime}" not in err:
            return f"expected runtime error {e.runtime!r} (exit 70); got exit {status}, stderr {err[:300]!r}"
        return ""
    return "" if status == 0 else f"exit status {status}; stderr {err[:300]!r}"


def spec_files(*roots: Path) -> list[Path]:
    """Every annotated program under the roots, sorted."""
    files = [p for r in roots if r.is_dir() for p in sorted(r.rglob("*.ilu"))]
    return [p for p in files if not expectations(p).empty]


def is_test_module(path: Path) -> bool:
    """A file whose `test_*` functions are tests, by its conventional name."""
    return path.name.startswith("test_") or path.stem.endswith("_test")


def discover(paths: list[Path]) -> list[Path]:
    """The test files under paths (a file given by name is taken as it is), sorted."""
    found: list[Path] = []
    for p in paths:
        candidates = [p] if p.is_file() else sorted(p.rglob("*.ilu"))
        found += [c for c in candidates if p.is_file() or is_test_module(c) or not expectations(c).empty]
    return sorted(set(found))


@dataclass
class Outcome:
    """One test's name and, when it failed, why."""

    name: str
    why: str = ""


def in_folder(path: Path, work: Callable[[], Any]) -> Any:
    """work() with the working folder set to path's folder, as conform.py runs programs."""
    old = os.getcwd()
    os.chdir(path.parent)
    try:
        return work()
    finally:
        os.chdir(old)


def run_program(path: Path, engine: str, compiler: str, fs_root: Optional[str] = None) -> Outcome:
    """An annotated program, run as `ilusm run` would (default capabilities, files beneath its
    folder, or beneath fs_root when given)."""
    from stage0.cli.proc import guarded, in_big_stack
    from stage0.host.caps import policy
    from stage0.interp.vm import DEFAULT_MAX_DEPTH
    from stage0.toolchain.engines import execute
    from stage0.toolchain.programs import load_program, origin_of

    out, err = io.StringIO(), io.StringIO()

    def go() -> int:
        grant = policy(fs_root=fs_root)
        image, _ = load_program(path.name, compiler, grant.fs_root)
        return execute(image, [], DEFAULT_MAX_DEPTH, out=out, engine=engine, origin=origin_of(path.name),
                       policy=grant)

    status = in_folder(path, lambda: in_big_stack(lambda: guarded(go, err)))
    return Outcome(str(path), verdict(path, expectations(path), status, out.getvalue(), err.getvalue()))


def run_module(path: Path, engine: str, compiler: str, pattern: Optional[str] = None,
               fs_root: Optional[str] = None) -> list[Outcome]:
    """Each `test_*` function of a test module (those whose name holds pattern); a module that
    fails to load is one failure."""
    from stage0.cli.proc import guarded, in_big_stack

    found: list[Outcome] = []
    err = io.StringIO()

    def go() -> int:
        exports = _load(path, engine, compiler, fs_root)
        for name, f in exports.items():
            full = f"{path}::{name}"
            if name.startswith("test_") and (not pattern or pattern in full):
                found.append(_one(exports["__vm__"], f, full))
        return 0

    status = in_folder(path, lambda: in_big_stack(lambda: guarded(go, err)))
    if status != 0:
        found.append(Outcome(str(path), f"the module did not load:\n{err.getvalue().strip()}"))
    return found


def _load(path: Path, engine: str, compiler: str, fs_root: Optional[str]) -> dict[str, Any]:
    """Run a test module's body on an engine (files beneath its folder, or fs_root); its exports,
    with the VM under `__vm__`."""
    from stage0.host.caps import policy
    from stage0.toolchain.programs import load_program

    grant = policy(fs_root=fs_root)
    image, _ = load_program(path.name, compiler, grant.fs_root)
    if engine == "vm":
        from stage0.toolchain.selfvm import SelfHostedVM

        vm: Any = SelfHostedVM(image, policy=grant)
    else:
        from stage0.fast.vm import FastVM
        from stage0.interp.vm import VM

        vm = (FastVM if engine == "fast" else VM)(image, caps=grant.caps, fs_root=grant.fs_root)
    return {**vm.run_main(), "__vm__": vm}


def _one(vm: Any, f: Any, name: str) -> Outcome:
    """Call one test function: it passes when it returns."""
    from stage0.errors import RuntimeErr

    try:
        vm.call(f, [])
    except RuntimeErr as e:
        return Outcome(name, e.render())
    return Outcome(name)


def run_tests(paths: list[Path], engine: str, compiler: str, pattern: Optional[str],
              say: Callable[[str], None], fs_root: Optional[str] = None) -> int:
    """Run what discover finds (filtered by pattern), each test's files confined to its folder or to
    fs_root; the exit status (1 when a test failed or none ran).
    Every test runs in this process, so a pledge in one narrows its own VM only: the kernel layer,
    which would bind the whole process for good, is off (ILUSM_SANDBOX_KERNEL)."""
    os.environ["ILUSM_SANDBOX_KERNEL"] = "off"
    outcomes: list[Outcome] = []
    for path in discover(paths):
        if expectations(path).empty:
            outcomes += run_module(path, engine, compiler, pattern, fs_root)
        elif not pattern or pattern in str(path):
            outcomes.append(run_program(path, engine, compiler, fs_root))
    failed = [o for o in outcomes if o.why]
    for o in failed:
        say(f"FAIL {o.name}\n{o.why}\n")
    say(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if not outcomes:
        say("no tests found (annotated programs, or test_*.ilu files with test_* functions)")
        return 1
    return 1 if failed else 0
