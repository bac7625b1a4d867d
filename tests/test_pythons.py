"""The fixed point under every other CPython the machine offers: the same bytes as ilusm.ilbc.

Under each interpreter, with nothing installed (the toolchain needs only the
standard library), the seed compiler compiles lib/, that image compiles lib/
on the fast tier, and the result compiles lib/ again: all three must equal the
committed image, so the image depends on the source and nothing else.
Interpreters that are not there are skipped.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from stage0.paths import COMMITTED_IMAGE, ROOT

SCRIPT = """
import hashlib, sys
sys.setrecursionlimit(100_000)
from stage0.image import ilbc
from stage0.paths import MAIN_MODULE, ROOT
from stage0.seedc.driver import compile_tree
from stage0.toolchain.selfhost import Toolchain
s1 = ilbc.write(compile_tree(ROOT / "lib", MAIN_MODULE))
s2 = Toolchain(s1, engine="fast").compile_tree(ROOT / "lib", MAIN_MODULE)
s3 = Toolchain(s2, engine="fast").compile_tree(ROOT / "lib", MAIN_MODULE)
for data in (s1, s2, s3):
    print(hashlib.sha256(data).hexdigest())
"""


def interpreter(version: str) -> str | None:
    """A CPython of that version that runs: installed by pyenv, or on the PATH."""
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{version}.*/bin/python")))
    for python in [*candidates[-1:], shutil.which(f"python{version}")]:
        if python and subprocess.run([python, "-c", "pass"], capture_output=True).returncode == 0:
            return python
    return None


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_fixed_point_is_the_same_bytes(version: str, tmp_path: Path) -> None:
    python = interpreter(version)
    if python is None:
        pytest.skip(f"no python{version} here")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "random", "TZ": "Asia/Kolkata",
           "LANG": "C"}
    run = subprocess.run([python, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=tmp_path,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    import hashlib

    want = hashlib.sha256(COMMITTED_IMAGE.read_bytes()).hexdigest()
    assert run.stdout.split() == [want] * 3
