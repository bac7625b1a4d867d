"""docs/tour.md: every `ilusm` block runs, printing what its `# →` comments say."""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from stage0.cli.commands import run_file

TOUR = Path(__file__).resolve().parent.parent / "docs" / "tour.md"
BLOCKS = re.findall(r"```ilusm\n(.*?)```", TOUR.read_text(encoding="utf-8"), re.S)


def expected(block: str) -> list[str]:
    """The output the `# →` comments give, a line each."""
    return [m.group(1).rstrip() for m in re.finditer(r"# →\s?(.*)$", block, re.M)]


def test_the_tour_has_examples() -> None:
    assert len(BLOCKS) >= 7


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_example(index: int, tmp_path: Path) -> None:
    block = BLOCKS[index]
    (tmp_path / "tour.ilu").write_text(block)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = run_file("tour.ilu", [], out, err)
    finally:
        os.chdir(old)
    assert status == 0, err.getvalue()
    assert out.getvalue().splitlines() == expected(block)
