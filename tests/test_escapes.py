"""Escape attempts against the capability model's layers 1 and 2, each on every engine.

Every attempt runs as an ilusm program whose file root is `root/` (a fresh
folder holding a symlink out of it and a symlinked folder); a secret file
lies outside. The attempt must print the refusal it expects and the secret
must never appear in its output. The count and the outcomes are quoted in
docs/security.md (keep that table in step with ATTEMPTS).
"""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import CompileError
from stage0.host.caps import Policy
from stage0.host.registry import DEFAULT_CAPS
from stage0.seedc.driver import compile_with_sources
from stage0.toolchain.engines import execute
from stage0.toolchain.programs import compile_source

SECRET = "TOP-SECRET-42"
ENGINES = ("ref", "fast", "vm")
OUTSIDE = "cannot {verb} {path}: outside the sandbox ({root})"

# (name, program, capabilities or None for the default set, what the output must contain)
ATTEMPTS: list[tuple[str, str, frozenset[str] | None, str]] = [
    ("dot-dot", 'prn(__sys_read_file("../outside/secret.txt"))', None,
     OUTSIDE.format(verb="read", path="../outside/secret.txt", root="{root}")),
    ("absolute path", 'prn(__sys_read_file("{outside}/secret.txt"))', None, "outside the sandbox"),
    ("dot-dot inside a path", 'prn(__sys_read_file("sub/../../outside/secret.txt"))', None, "outside the sandbox"),
    ("symlink out of the root", 'prn(__sys_read_file("link_to_secret"))', None, "outside the sandbox"),
    ("write through a symlinked folder", 'prn(__sys_write_file("linked_dir/planted.txt", "x"))', None,
     "outside the sandbox"),
    ("append through a symlinked folder", 'prn(__sys_append_file("linked_dir/planted.txt", "x"))', None,
     "outside the sandbox"),
    ("list the parent folder", 'prn(__sys_read_dir(".."))', None, "outside the sandbox"),
    ("probe existence outside", 'prn(__sys_stat("{outside}/secret.txt"), __sys_is_dir("{outside}"))', None,
     "fls fls"),
    ("resolve a path outside", 'prn(__sys_realpath("../outside"))', None, "outside the sandbox"),
    ("file facts outside", 'prn(__sys_file_meta("../outside/secret.txt"))', None, "outside the sandbox"),
    ("bytes outside", 'prn(__buf_read_file("../outside/secret.txt"))', None, "outside the sandbox"),
    ("remove outside", 'prn(__sys_remove("../outside/secret.txt"))', None, "outside the sandbox"),
    ("make a folder outside", 'prn(__sys_mkdir("../outside/new"))', None, "outside the sandbox"),
    ("child working folder outside", 'prn(__sys_spawn("true", [], {{cwd: "../outside"}}))', None,
     "outside the sandbox"),
    ("builtin as a first-class value", 'f = __sys_read_file\nprn(f("../outside/secret.txt"))', None,
     "outside the sandbox"),
    ("builtin through __host_builtin", 'prn(try(\\() __host_apply(__host_builtin("__sys_get_env"), ["HOME"])).err)',
     frozenset({"io"}), "capability 'env' is not granted (needed by __sys_get_env)"),
    ("builtin through a closure", 'g = \\(k) __sys_get_env(k)\nprn(try(\\() g("HOME")).err)', frozenset({"io"}),
     "capability 'env' is not granted"),
    ("builtin called back by try", "prn(try(__sys_cwd).err)", frozenset({"io"}),
     "capability 'fs:ro' is not granted (needed by __sys_cwd)"),
    ("builtin in a list, called later", 'fs = [__sys_get_time]\nprn(try(\\() fs[0]()).err)', frozenset({"io"}),
     "capability 'time' is not granted"),
    ("read with only fs:ro, then write", 'prn(try(\\() __sys_write_file("w.txt", "x")).err)',
     frozenset({"io", "fs:ro"}), "capability 'fs' is not granted (needed by __sys_write_file)"),
    ("http to a file: URL", 'prn(try(\\() __http_get("file://{outside}/secret.txt", {{}})).val)', None,
     "only http and https URLs are supported"),
    ("child asking for more than the parent", 'prn(try(\\() __sys_spawn("true", [], {{caps: ["ffi"]}})).err)', None,
     "cannot give the child capability 'ffi': not held"),
    ("pledge then widen", '__sbx_pledge(["fs:ro"])\nprn(try(\\() __sbx_pledge(["net"])).err)', None,
     "cannot pledge 'net': not granted to this program"),
    ("sbx.run then widen inside", 'prn(__sbx_run(["time"], \\() try(\\() __sys_get_env("X")).err))', None,
     "capability 'env' is not granted"),
    ("use a module that needs more", 'use net\nprn 1', frozenset({"io"}),
     "module 'net' requires capability 'net', which is not granted"),
]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    """root/ (the file root) with a symlink to the secret and a symlinked folder; outside/secret.txt."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (root / "link_to_secret").symlink_to(outside / "secret.txt")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    return {"root": os.path.realpath(root), "outside": os.path.realpath(outside)}


def run_attempt(text: str, engine: str, caps: frozenset[str] | None, root: str) -> str:
    """Run a program (seed-compiled) in root with root as its file root; stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(root)
    limit = sys.getrecursionlimit()
    try:
        def go() -> int:
            image, _ = compile_with_sources(Path(root) / "attempt.ilu", source=text)
            return execute(image, [], 200, out=out, engine=engine,
                           policy=Policy(caps if caps is not None else DEFAULT_CAPS, root))
        in_big_stack(lambda: guarded(go, err))
    finally:
        os.chdir(old)
        sys.setrecursionlimit(limit)
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name, text, caps, expect", ATTEMPTS, ids=[a[0] for a in ATTEMPTS])
def test_escape_attempt_is_refused(tree: dict[str, str], engine: str, name: str, text: str,
                                   caps: frozenset[str] | None, expect: str) -> None:
    got = run_attempt(text.format(**tree), engine, caps, tree["root"])
    assert expect.format(**tree) in got, got
    assert SECRET not in got
    assert not (Path(tree["outside"]) / "planted.txt").exists()
    assert (Path(tree["outside"]) / "secret.txt").read_text() == SECRET


@pytest.mark.parametrize("compiler", ["seed", "self"])
@pytest.mark.parametrize("target", ["{outside}/secret.txt", "../outside/secret.txt", "link_to_secret"])
def test_use_of_a_file_outside_the_root_does_not_compile(tree: dict[str, str], compiler: str, target: str) -> None:
    """Compiling `use "PATH"` of a file outside the root shows nothing of that file."""
    prog = Path(tree["root"]) / "main.ilu"
    prog.write_text(f'use "{target.format(**tree)}"\nprn 1\n')
    with pytest.raises(CompileError) as info:
        compile_source(prog, compiler, fs_root=tree["root"])
    assert "is outside the sandbox" in info.value.message
    assert SECRET not in str(info.value.render() if hasattr(info.value, "render") else info.value)


def test_the_environment_only_narrows(tree: dict[str, str]) -> None:
    """A child started with ILUSM_CAPS=io cannot take env back with --allow env."""
    prog = Path(tree["root"]) / "env.ilu"
    prog.write_text('prn(try(\\() __sys_get_env("HOME")).err)\n')
    env = dict(os.environ, ILUSM_CAPS="io")
    r = subprocess.run([sys.executable, "-m", "stage0", "run", "--allow", "env", str(prog)], cwd=tree["root"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert "capability 'env' is not granted" in r.stdout, r.stderr


def test_the_escape_table_is_documented() -> None:
    """docs/security.md quotes the number of attempts this file makes."""
    text = (Path(__file__).resolve().parent.parent / "docs" / "security.md").read_text()
    count = len(ATTEMPTS) * len(ENGINES) + 6 + 1
    assert f"{count} escape attempts" in text
