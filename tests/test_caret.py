"""One caret rule for every compiler: the seed, the self-hosted one through the host, and the
self-hosted pipeline run on its own (compile_pipeline.ilu's render) print the same error text."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stage0.errors import CompileError, caret_lead, is_wide
from stage0.paths import COMMITTED_IMAGE

LINES = {
    "wide": 'x = "中文" +* 2\n',
    "emoji": 'x = "🎉ok" +* 2\n',
    "tab": 'x =\t1 +* 2\n',
    "control": 'x = "a\x01b" +* 2\n',
    "fullwidth": 'x = "ＡＢ\tc" +* 2\n',
    "plain": 'x = 1 +* 2\n',
}


def test_caret_lead_counts_cells() -> None:
    assert caret_lead("中a\tb", 3) == "  " + " " + "\t"  # wide: two cells, tab: copied
    assert caret_lead("ab", 9) == "  "
    assert is_wide("中") and is_wide("🎉") and not is_wide("a") and not is_wide("é")


def test_render_replaces_control_characters() -> None:
    text = CompileError("bad\x00", "f.ilu", 1, 3, "a\rb\x7f", kind="error").render()
    assert text == "f.ilu:1:3: error: bad\ufffd\n    a\ufffdb\ufffd\n      ^"


def run(args: list[str], cwd: Path) -> tuple[int, str]:
    """Exit status and stderr of `python -m stage0 ARGS` in cwd."""
    r = subprocess.run([sys.executable, "-m", "stage0", *args], cwd=cwd, capture_output=True, timeout=120)
    return r.returncode, r.stderr.decode("utf-8")


@pytest.mark.parametrize("name", sorted(LINES))
def test_every_compiler_renders_the_same(name: str, tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text(LINES[name], encoding="utf-8")
    seed = run(["run", "--compiler", "seed", "p.ilu"], tmp_path)
    self_ = run(["run", "--compiler", "self", "p.ilu"], tmp_path)
    alone = run(["run", str(COMMITTED_IMAGE), "file", "p.ilu", "-o", "out.ilbc"], tmp_path)
    assert seed[0] == 65 and "^" in seed[1]
    assert seed == self_ == alone
    assert not (tmp_path / "out.ilbc").exists()
