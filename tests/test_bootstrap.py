"""The bootstrap: reproducible fixed point, and a diff that names what differs.

The reproducibility test copies the tree twice (files created in opposite
orders), runs `bootstrap.py stage2` in each copy under different time zones,
locales and hash seeds, and requires the same bytes everywhere, equal to the
committed ilusm.ilbc.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from stage0.image import ilbc
from stage0.image.diff import explain
from stage0.seedc.driver import compile_file

ROOT = Path(__file__).resolve().parent.parent
PARTS = ["bootstrap.py", "ilusm.ilbc", "stage0", "lib", "tests/smoke_vm.ilu", "tests/core.ilu", "tests/core"]


def copy_tree(dest: Path, reverse: bool) -> None:
    """Copy what the bootstrap needs, creating files in sorted or reverse order."""
    files = []
    for part in PARTS:
        src = ROOT / part
        files += [src] if src.is_file() else [p for p in src.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    for f in sorted(files, reverse=reverse):
        target = dest / f.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)


def test_fixed_point_is_reproducible(tmp_path: Path) -> None:
    """Another folder (deeper, files copied in reverse order), time zone, locale and hash seed give
    the committed image's bytes; `make test`'s `bootstrap.py stage3` covers the usual environment."""
    where = tmp_path / "tree" / "xx"
    copy_tree(where, reverse=True)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ILUSM_LIB", "ILUSM_PATH")}
    env.update(TZ="America/Lima", LANG="fr_FR.UTF-8", LC_ALL="fr_FR.UTF-8", PYTHONHASHSEED="987")
    p = subprocess.run([sys.executable, "bootstrap.py", "stage2"], cwd=where, env=env, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "fixed point reached" in p.stdout
    assert (where / "build" / "stage2.ilbc").read_bytes() == (ROOT / "ilusm.ilbc").read_bytes()


def test_diff_names_the_function_and_instruction(tmp_path: Path) -> None:
    one, two = tmp_path / "one.ilu", tmp_path / "two.ilu"
    one.write_text("f(x) = x + 1\nprn f(1)\n")
    two.write_text("f(x) = x - 1\nprn f(1)\n")
    text = explain(ilbc.write(compile_file(one)), ilbc.write(compile_file(two)), "one", "two")
    assert "function #1 (f) differs" in text
    assert "-0005  ADD" in text and "+0005  SUB" in text
    assert explain(b"same", b"same") == ""


def test_diff_names_pool_differences(tmp_path: Path) -> None:
    one, two = tmp_path / "a.ilu", tmp_path / "b.ilu"
    one.write_text('prn "hello"\n')
    two.write_text('prn "world"\n')
    text = explain(ilbc.write(compile_file(one)), ilbc.write(compile_file(two)))
    assert "constant #0 differs: 'hello' vs 'world'" in text
