"""Compiler output for the golden programs matches the reviewed .dis files, `ilusm audit` the
reviewed .audit and .json reports, and `ilusm fmt` the reviewed .fmt layouts."""
from __future__ import annotations

from pathlib import Path

import pytest
from golden import audit_cases, cases, fmt_cases, render, render_audit, render_fmt


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


@pytest.mark.parametrize("path", fmt_cases(), ids=lambda p: p.stem)
def test_golden_fmt(path: Path) -> None:
    want = path.with_suffix(".fmt").read_text(encoding="utf-8")
    assert render_fmt(path) == want, f"{path.name}: layout changed; review and run make golden-promote"
    assert render_fmt(path.with_suffix(".fmt")) == want, f"{path.name}: the layout is not a fixed point"
