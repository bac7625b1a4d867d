"""Compiler output for the golden programs matches the reviewed .dis files."""
from __future__ import annotations

from pathlib import Path

import pytest
from golden import cases, render


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    """`make golden-promote` updates these after an intended change."""
    want = path.with_suffix(".dis").read_text(encoding="utf-8")
    assert render(path) == want, f"{path.name}: disassembly changed; review and run make golden-promote"
