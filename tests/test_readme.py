"""The README's `$ ilusm` examples print what the README says they print.

An example is a fenced block of `$ cat FILE` lines, each followed by the
file's text, and `$ ilusm ARGS` lines, each followed by the expected standard
output and standard error (in that order). Every block runs in a fresh
folder holding the files written so far in the README.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from cli_util import ilusm

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```\n(\$ .*?)^```$", re.S | re.M)


def steps(block: str) -> list[tuple[str, str]]:
    """(command, the text after it) for each `$ ` line of a block."""
    parts = re.split(r"^\$ (.*)\n", block, flags=re.M)
    return list(zip(parts[1::2], parts[2::2]))


EXAMPLES = [steps(b) for b in BLOCK.findall((ROOT / "README.md").read_text(encoding="utf-8"))]


def test_the_readme_has_examples() -> None:
    runs = [cmd for ex in EXAMPLES for cmd, _ in ex if cmd.startswith("ilusm ")]
    assert len(runs) >= 3, runs


@pytest.mark.parametrize("example", range(len(EXAMPLES)))
def test_readme_example(example: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for ex in EXAMPLES[:example + 1]:  # files of earlier blocks exist too
        for cmd, text in ex:
            if cmd.startswith("cat "):
                path = tmp_path / cmd[4:]
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
    for cmd, expected in EXAMPLES[example]:
        if cmd.startswith("ilusm "):
            _, out, err = ilusm(*shlex.split(cmd)[1:])
            assert out + err == expected, cmd
