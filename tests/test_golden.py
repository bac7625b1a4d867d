"""Compiler output for the golden programs matches the reviewed .dis files, and `ilusm audit`
the reviewed .audit and .json reports."""
from __future__ import annotations

from pathlib import Path

import pytest
from golden import audit_cases, cases, render, render_audit


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.stem)
def test_golden(path: Path) -> None:
    """`make golden-promote` updates these after an intended change."""
    want = path.with_suffix(".dis").read_text(encoding="utf-8")
    assert render(path) == want, f"{path.name}: disassembly changed; review and run make golden-promote"


@pytest.mark.parametrize("path", audit_cases(), ids=lambda p: p.stem)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_golden_audit(path: Path, as_json: bool) -> None:
    want = path.with_suffix(".json" if as_json else ".audit").read_text(encoding="utf-8")
    assert render_audit(path, as_json) == want, f"{path.name}: audit report changed; review, make golden-promote"


def test_audit_cases_exist() -> None:
    assert len(audit_cases()) >= 3
