"""`pip install .` (not editable) gives a working `ilusm` that finds lib/ as package data."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_finds_lib(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True)
    assert (target / "ilusm_lib" / "stdlib" / "trl.ilu").is_file()
    prog = tmp_path / "work" / "p.ilu"
    prog.parent.mkdir()
    prog.write_text("use trl\nuse txt\nprn trl.sum([1, 2, 3]), txt.up(\"ok\")\n")
    env = dict(os.environ, PYTHONPATH=str(target))
    p = subprocess.run([sys.executable, "-m", "stage0", "run", "p.ilu"], cwd=prog.parent, env=env,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "6 OK\n"
    # and it really ran the installed copy, not this checkout
    where = subprocess.run([sys.executable, "-c", "import stage0; print(stage0.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True).stdout
    assert where.startswith(str(target))


def test_every_stage0_package_is_installed() -> None:
    """A subpackage missing from pyproject's list works in the tree and breaks once installed."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"stage0"} | {f"stage0.{p.parent.name}" for p in (ROOT / "stage0").glob("*/__init__.py")}
    assert found <= listed, sorted(found - listed)
