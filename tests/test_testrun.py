"""`ilusm test`: discovery, annotated programs, test_* functions, -k, --engine, diffs and exit status."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "sub").mkdir()
    (tmp_path / "good.ilu").write_text("prn 1 + 1   # expect: 2\n")
    (tmp_path / "bad.ilu").write_text("prn 3   # expect: 4\nprn 5   # expect: 5\n")
    (tmp_path / "boom.ilu").write_text('err("x")\n# expect runtime error: x\n')
    (tmp_path / "sub" / "test_math.ilu").write_text(
        'add(a, b) = a + b\ntest_add() = asr(add(1, 2) == 3)\n'
        'test_fails() = asr(add(1, 1) == 3, "1 + 1 is not 3")\nhelper() = 1\n')
    (tmp_path / "sub" / "helper.ilu").write_text("x = 1\n")  # neither annotated nor a test module
    return tmp_path


def ilusm_test(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stage0", "test", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_everything_under_the_folder(project: Path) -> None:
    r = ilusm_test([], project)
    assert r.returncode == 1
    assert r.stdout.splitlines()[-1] == "3 passed, 2 failed"
    assert "FAIL bad.ilu\nstdout differs:\n--- expected\n+++ actual\n@@ -1,2 +1,2 @@\n-4\n+3\n 5" in r.stdout
    assert "FAIL sub/test_math.ilu::test_fails\nerror: 1 + 1 is not 3\n  at test_fails (test_math.ilu:3)" in r.stdout
    assert "helper" not in r.stdout


@pytest.mark.parametrize("engine", ["ref", "fast", "vm"])
def test_filter_and_engine(project: Path, engine: str) -> None:
    r = ilusm_test(["-k", "test_add", "--engine", engine], project)
    assert (r.returncode, r.stdout) == (0, "1 passed, 0 failed\n")
    assert ilusm_test(["-k", "good", "--engine", engine, "good.ilu"], project).stdout == "1 passed, 0 failed\n"


def test_no_tests_and_bad_paths(tmp_path: Path) -> None:
    r = ilusm_test([], tmp_path)
    assert r.returncode == 1 and "no tests found" in r.stdout
    r = ilusm_test(["missing"], tmp_path)
    assert r.returncode == 2 and "no such file or folder: missing" in r.stderr


def test_a_module_that_does_not_load_is_a_failure(tmp_path: Path) -> None:
    (tmp_path / "test_broken.ilu").write_text("test_a() = 1\nx = (\n")
    r = ilusm_test([], tmp_path)
    assert r.returncode == 1 and "FAIL test_broken.ilu\nthe module did not load:" in r.stdout
    assert "syntax error" in r.stdout


def test_fs_root_lets_tests_use_the_project_s_modules(tmp_path: Path) -> None:
    """By default a test is confined to its own folder, as `ilusm run` would confine it there;
    `--fs-root .` opens the project to it, so tests/ can `use "../mod.ilu"`."""
    (tmp_path / "mathx.ilu").write_text("sq(x) = x * x\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_mathx.ilu").write_text('use "../mathx.ilu"\ntest_sq() = asr(sq(4) == 16)\n')
    r = ilusm_test([], tmp_path)
    assert r.returncode == 1 and "module '../mathx.ilu' is outside the sandbox" in r.stdout
    r = ilusm_test(["--fs-root", "."], tmp_path)
    assert (r.returncode, r.stdout.splitlines()[-1]) == (0, "1 passed, 0 failed")
    assert ilusm_test(["--fs-root", "nowhere"], tmp_path).returncode == 2
