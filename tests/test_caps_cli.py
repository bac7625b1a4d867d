"""Choosing capabilities from the outside: `ilusm run` flags, the environment, policy files, the
trace of first uses, `ilusm audit`'s exit status, and layer 1 (`# @requires`) on every engine."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stage0.cli.proc import guarded, in_big_stack
from stage0.errors import CompileError, UsageError
from stage0.host.caps import Policy, narrow, policy
from stage0.host.registry import DEFAULT_CAPS, grant
from stage0.seedc.driver import compile_with_sources
from stage0.toolchain.engines import execute
from stage0.toolchain.programs import compile_source


def ilusm(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`ilusm ARGS` as a process in cwd, with extra environment variables."""
    full = {k: v for k, v in os.environ.items() if not k.startswith(("ILUSM_CAPS", "ILUSM_FS_ROOT", "ILUSM_POLICY"))}
    return subprocess.run([sys.executable, "-m", "stage0", *args], cwd=cwd, env={**full, **(env or {})},
                          capture_output=True, text=True, timeout=120)


# ---- the policy a command line and environment give --------------------------------------


def test_default_policy_is_everything_but_ffi_confined_to_the_working_folder(tmp_path: Path) -> None:
    p = policy(environ={}, cwd=str(tmp_path))
    assert p.caps == DEFAULT_CAPS | {"io"} and "ffi" not in p.caps
    assert p.fs_root == os.path.realpath(tmp_path)


def test_flags_add_remove_and_set(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    assert "ffi" in policy(allow=("ffi",), environ={}, cwd=cwd).caps
    assert policy(deny=("net,proc",), environ={}, cwd=cwd).caps == {"io", "fs", "fs:ro", "env", "time"}
    assert policy(exact="io,fs:ro", environ={}, cwd=cwd).caps == {"io", "fs:ro"}
    assert "fs:ro" not in policy(deny=("fs",), environ={}, cwd=cwd).caps
    assert policy(fs_root="/", environ={}, cwd=cwd).fs_root is None


def test_the_environment_only_narrows(tmp_path: Path) -> None:
    cwd = str(tmp_path)
    env = {"ILUSM_CAPS": "io,fs:ro,net"}
    assert policy(allow=("ffi",), environ=env, cwd=cwd).caps == {"io", "fs:ro", "net"}
    assert policy(exact="io,fs:ro", environ=env, cwd=cwd).caps == {"io", "fs:ro"}
    (tmp_path / "inner").mkdir()
    (tmp_path / "other").mkdir()
    inner = {"ILUSM_FS_ROOT": str(tmp_path / "inner")}
    assert policy(environ=inner, cwd=cwd).fs_root == os.path.realpath(tmp_path / "inner")
    assert policy(fs_root="/", environ=inner, cwd=cwd).fs_root == os.path.realpath(tmp_path / "inner")
    with pytest.raises(UsageError, match="outside ILUSM_FS_ROOT"):
        policy(fs_root=str(tmp_path / "other"), environ=inner, cwd=cwd)


def test_narrow_keeps_read_only_files_under_fs() -> None:
    assert narrow(grant({"fs", "net"}), frozenset({"fs:ro"})) == {"fs:ro"}
    assert narrow(grant({"fs:ro"}), frozenset({"fs"})) == frozenset()


@pytest.mark.parametrize("args, message", [
    (["--caps", "io,nett"], "--caps: unknown capability 'nett'"),
    (["--allow", "root"], "--allow: unknown capability 'root'"),
    (["--fs-root", "no/such/dir"], "--fs-root: no/such/dir is not a folder"),
])
def test_bad_flags_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "p.ilu").write_text("prn 1\n")
    r = ilusm(["run", *args, "p.ilu"], cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_flags_reach_the_program(tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text('prn(__sbx_caps())\nprn(try(\\() __sys_get_env("HOME")).err)\n')
    r = ilusm(["run", "--deny", "env", "p.ilu"], cwd=tmp_path)
    assert r.stdout == ('["fs", "io", "net", "proc", "time"]\n'
                        "capability 'env' is not granted (needed by __sys_get_env)\n"), r.stderr
    r = ilusm(["run", "p.ilu"], cwd=tmp_path, env={"ILUSM_CAPS": "io,time"})
    assert r.stdout.startswith('["io", "time"]\n')


def test_fs_root_flag_moves_the_sandbox(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "d.txt").write_text("d\n")
    (tmp_path / "top.txt").write_text("t\n")
    (tmp_path / "p.ilu").write_text('prn(__sys_read_file("data/d.txt"))\nprn(__sys_read_file("top.txt").err != nil)\n')
    r = ilusm(["run", "--fs-root", "data", "p.ilu"], cwd=tmp_path)
    assert r.stdout == "d\n\ntru\n", r.stderr


def test_trace_caps_reports_first_uses(tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text('x = __sys_get_time()\ny = __sys_get_time()\nprn(__sys_cwd() != "")\n')
    r = ilusm(["run", "--trace-caps", "p.ilu"], cwd=tmp_path)
    assert r.stdout == "tru\n"
    assert r.stderr == ("ilusm: capability 'time' first used by __sys_get_time at p.ilu:1\n"
                        "ilusm: capability 'fs:ro' first used by __sys_cwd at p.ilu:3\n")


# ---- policy files --------------------------------------------------------------------------

def test_policy_file_narrows_and_moves_the_root(tmp_path: Path) -> None:
    (tmp_path / "box").mkdir()
    (tmp_path / "pol.json").write_text(json.dumps({
        "caps": ["fs:ro"], "fs_root": "box",
        "rules": [{"when": {"mod": "plug*"}, "caps": ["time"], "eff": "allow"}]}))
    (tmp_path / "plugin.ilu").write_text("prn(__sbx_caps(), __sbx_root())\n")
    r = ilusm(["run", "--policy", "pol.json", "plugin.ilu"], cwd=tmp_path)
    assert r.stdout == f'["fs:ro", "io", "time"] {os.path.realpath(tmp_path / "box")}\n', r.stderr
    (tmp_path / "main.ilu").write_text("prn(__sbx_caps())\n")
    assert ilusm(["run", "--policy", "pol.json", "main.ilu"], cwd=tmp_path).stdout == '["fs:ro", "io"]\n'


def test_policy_file_cannot_widen(tmp_path: Path) -> None:
    (tmp_path / "pol.json").write_text(json.dumps({"caps": ["ffi", "net"]}))
    (tmp_path / "p.ilu").write_text("prn(__sbx_caps())\n")
    assert ilusm(["run", "--policy", "pol.json", "p.ilu"], cwd=tmp_path).stdout == '["io", "net"]\n'


def test_sealed_policy_files(tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text("prn(__sbx_caps())\n")
    (tmp_path / "seal.ilu").write_text('use pol\nprn(pol.seal("k3y", {caps: ["time"]}))\n')
    seal = ilusm(["run", "seal.ilu"], cwd=tmp_path).stdout.strip()
    (tmp_path / "good.json").write_text(json.dumps({"caps": ["time"], "seal": seal}))
    (tmp_path / "bad.json").write_text(json.dumps({"caps": ["time", "net"], "seal": seal}))
    env = {"ILUSM_POLICY_KEY": "k3y"}
    assert ilusm(["run", "--policy", "good.json", "p.ilu"], cwd=tmp_path, env=env).stdout == '["io", "time"]\n'
    r = ilusm(["run", "--policy", "bad.json", "p.ilu"], cwd=tmp_path, env=env)
    assert r.returncode == 2 and "is not sealed with ILUSM_POLICY_KEY" in r.stderr


@pytest.mark.parametrize("content, message", [
    ("{", "is not JSON"),
    ('{"caps": ["nett"]}', 'policy: unknown capability "nett"'),
    ('[1]', "policy: expected an object, got lst"),
])
def test_bad_policy_files_are_usage_errors(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "pol.json").write_text(content)
    (tmp_path / "p.ilu").write_text("prn 1\n")
    r = ilusm(["run", "--policy", "pol.json", "p.ilu"], cwd=tmp_path)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


# ---- layer 1: # @requires -------------------------------------------------------------------

@pytest.mark.parametrize("compiler", ["seed", "self"])
def test_unknown_capability_is_a_compile_error(tmp_path: Path, compiler: str) -> None:
    prog = tmp_path / "p.ilu"
    prog.write_text("# a program\n#   @requires  fs:ro,  nett\nprn 1\n")
    with pytest.raises(CompileError) as info:
        compile_source(prog, compiler)
    e = info.value
    assert (e.message, e.line, e.col, e.kind) == ("unknown capability 'nett'", 2, 24, "error")


@pytest.mark.parametrize("compiler", ["seed", "self"])
def test_both_compilers_record_the_same_declarations(tmp_path: Path, compiler: str) -> None:
    prog = tmp_path / "p.ilu"
    prog.write_text("#!/usr/bin/env ilusm\n# @requires fs:ro net, fs:ro\n\n# @uses time\nprn 1\n# @requires env\n")
    image, _ = compile_source(prog, compiler)
    mod = image.modules[image.entry]
    assert [image.names[c] for c in mod.requires] == ["fs:ro", "net"]
    assert [image.names[c] for c in mod.uses] == ["time"]


def run_engine(tmp_path: Path, text: str, engine: str, caps: frozenset[str]) -> str:
    """stdout + stderr of text run on engine holding caps."""
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()
    try:
        def go() -> int:
            image, _ = compile_with_sources(tmp_path / "p.ilu", source=text)
            return execute(image, [], 200, out=out, engine=engine, policy=Policy(caps))
        in_big_stack(lambda: guarded(go, err))
    finally:
        sys.setrecursionlimit(limit)
    return out.getvalue() + err.getvalue()


@pytest.mark.parametrize("engine", ["ref", "fast", "vm"])
def test_use_checks_declared_capabilities(tmp_path: Path, engine: str) -> None:
    text = 'r = try(\\() __host_apply(\\() 0, []))\nprn "before"\nuse net\nprn "after"\n'
    got = run_engine(tmp_path, text, engine, frozenset({"io", "fs"}))
    assert got.startswith("before\nerror: module 'net' requires capability 'net', which is not granted")
    assert "after" not in got
    assert run_engine(tmp_path, "use fs\nprn typ(fs.rd)\n", engine, frozenset({"io", "fs"})) == "fn\n"


@pytest.mark.parametrize("engine", ["ref", "fast", "vm"])
def test_entry_manifest_narrows_the_program(tmp_path: Path, engine: str) -> None:
    text = '# @requires fs:ro, time\n# @uses env\nprn(__sbx_caps())\nprn(try(\\() __sys_get_env("X")).err)\n'
    got = run_engine(tmp_path, text, engine, DEFAULT_CAPS)
    assert got == '["fs:ro", "io", "time"]\ncapability \'env\' is not granted (needed by __sys_get_env)\n'
    assert run_engine(tmp_path, "# @uses env\nprn(__sbx_caps())\n", engine, DEFAULT_CAPS) == \
        '["env", "fs", "io", "net", "proc", "time"]\n'


# ---- ilusm audit -------------------------------------------------------------------------------

def test_audit_exit_status_and_usage(tmp_path: Path) -> None:
    golden = Path(__file__).resolve().parent / "golden" / "audit"
    assert ilusm(["audit", "clean.ilu"], cwd=golden).returncode == 0
    r = ilusm(["audit", "app.ilu"], cwd=golden)
    assert r.returncode == 1 and "1 problem: app.ilu:9 uses proc" in r.stdout
    assert ilusm(["audit"], cwd=tmp_path).returncode == 2
    r = ilusm(["audit", "missing.ilu"], cwd=tmp_path)
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_audit_run_adds_what_the_program_exercised(tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text("# @requires time\nprn(__sys_get_time() > 0)\n")
    r = ilusm(["audit", "--run", "--json", "p.ilu"], cwd=tmp_path)
    data = json.loads(r.stdout[r.stdout.index("{"):])
    assert data["run"] == [{"cap": "time", "how": "__sys_get_time", "site": "p.ilu:2", "verdict": ""}]
    assert r.returncode == 0 and r.stdout.startswith("tru\n")
