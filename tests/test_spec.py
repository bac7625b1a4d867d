"""Runs every annotated spec program (tests/spec and the shared conformance set) in-process.

Each program runs with its folder as the working directory, as conform.py
does, on every execution path the project has.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from spec_runner import expectations, spec_files, verdict

from stage0.cli.commands import run_file

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "conformance"
FILES = spec_files(ROOT / "tests" / "spec", SHARED)
PATHS = ["seed", "self"]


def run_in(path: Path, compiler: str) -> tuple[int, str, str]:
    """Run a program from its own folder; (status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(path.parent)
    try:
        status = run_file(path.name, [], out, err, compiler=compiler)
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("compiler", PATHS)
@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spec(path: Path, compiler: str) -> None:
    """The program does what its annotations say."""
    status, out, err = run_in(path, compiler)
    why = verdict(path, expectations(path), status, out, err)
    assert not why, why


def test_suite_is_large() -> None:
    """The project's own spec suite stays well above 200 programs."""
    own = [p for p in FILES if ROOT in p.parents]
    assert len(own) >= 200, len(own)
