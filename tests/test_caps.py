"""Capabilities on the host builtins (`../shared/spec/stdlib.md` §3.4, layer 2).

The registry test enforces the seed's "every builtin": each one is either in
the explicit pure list below or declares the capability this table expects.
The table-driven test then calls every capability builtin on a VM that holds
only `io`, on both engines and along every path a call can take (SYSCALL, a
builtin held as a value, `try` calling it back), and expects the denial.
"""
from __future__ import annotations

import io

import pytest
from test_fast import run_vm

from stage0.fast.vm import FastVM
from stage0.host import all_builtins
from stage0.host.registry import CAPS, DEFAULT_CAPS, grant
from stage0.image import ilbc
from stage0.interp.vm import VM
from stage0.paths import ROOT
from stage0.seedc.driver import compile_file

# Builtins that touch nothing outside the program: no capability, no wrapper.
PURE = {
    "len", "str", "int", "num", "typ", "try", "err", "asr", "keys", "push", "pop", "has",
    "__sys_relpath", "__sys_args", "__sys_exit", "__sys_pid", "__sys_platform", "__sys_self_cmd",
    *(n for n in all_builtins() if n.startswith(("__host_", "__vm_"))),
    *(n for n in all_builtins() if n.startswith(("__cry_", "__json_", "__rex_"))),
    *(n for n in all_builtins() if n.startswith("__sbx_")),      # they only ever narrow
    *(n for n in all_builtins() if n.startswith(("__ilu_", "__rfl_"))),   # compiling and looking grant nothing
    "__mch_targets", "__mch_host", "__mch_ir_obj",   # object code only: nothing runs
    "__jit_config", "__jit_stats", "__jit_enter", "__jit_guest",  # the JIT changes speed only
    *(n for n in all_builtins() if n.startswith(("__buf_", "__txt_", "__num_"))
      and n not in ("__buf_read_file", "__buf_write_file")),
}

# The capability each remaining builtin must declare (spec §3.1).
EXPECTED = {
    "prn": "io", "__sys_write_stdout": "io", "__sys_write_stderr": "io", "__sys_read_line": "io",
    "__sys_read_file": "fs:ro", "__sys_read_dir": "fs:ro", "__sys_stat": "fs:ro", "__sys_is_dir": "fs:ro",
    "__sys_realpath": "fs:ro", "__sys_cwd": "fs:ro", "__buf_read_file": "fs:ro",
    "__sys_write_file": "fs", "__sys_remove": "fs", "__sys_mkdir": "fs", "__buf_write_file": "fs",
    "__sys_append_file": "fs", "__sys_file_meta": "fs:ro",
    **{n: "net" for n in all_builtins() if n.startswith(("__sys_tcp_", "__http_"))},
    "__sys_spawn": "proc", "__sys_wait": "proc", "__sys_kill": "proc", "__sys_mono": "time",
    **{n: "ffi" for n in all_builtins() if n.startswith("__ffi_")},
    "__sys_get_env": "env", "__sys_set_env": "env",
    "__sys_get_time": "time", "__sys_sleep": "time",
    "__sys_run_command": "proc",
    "__mch_link": "ffi",
}

# Builtins the check covers (io is always held, so it has no check).
CHECKED = sorted(n for n, c in EXPECTED.items() if c != "io")


def test_every_builtin_is_pure_or_has_its_capability() -> None:
    for name, b in all_builtins().items():
        if name in PURE:
            assert b.cap is None, f"{name} is listed as pure but needs {b.cap}"
        else:
            assert name in EXPECTED, f"{name}: add it to PURE or EXPECTED"
            assert b.cap == EXPECTED[name], f"{name} needs {EXPECTED[name]}, declares {b.cap}"
    assert set(EXPECTED) <= set(all_builtins()), "EXPECTED names a builtin that is gone"


def test_pure_builtins_carry_no_wrapper() -> None:
    for name in PURE:
        assert not hasattr(all_builtins()[name].fn, "__wrapped__"), name


def test_grant_always_holds_io_and_fs_implies_read_only() -> None:
    assert grant(frozenset()) == {"io"}
    assert grant({"fs"}) == {"io", "fs", "fs:ro"}
    assert "ffi" not in DEFAULT_CAPS and set(CAPS) - {"ffi"} <= grant(DEFAULT_CAPS)
    with pytest.raises(ValueError, match="unknown capability 'nett'"):
        grant({"nett"})


def denial(name: str) -> str:
    return f"capability '{all_builtins()[name].cap}' is not granted (needed by {name})"


def program(name: str) -> str:
    """Calls of `name` along each path; each prints the error it met."""
    arity = all_builtins()[name].arity
    args = ", ".join(["nil"] * (1 if arity < 0 else arity))
    lines = [
        f"prn(try(\\() {name}({args})).err)",        # SYSCALL
        f"f = {name}",
        f"prn(try(\\() f({args})).err)",             # a builtin value, called
    ]
    if arity == 0:
        lines.append(f"prn(try({name}).err)")      # try calls the builtin back
    lines.append(f"{name}({args})")                 # uncaught: exit 70
    return "\n".join(lines) + "\n"


def run(cls: type[VM], text: str, caps: frozenset[str]) -> tuple[int, str, str]:
    """Compile text and run it on cls holding caps; (status, stdout, stderr)."""
    return run_vm(cls, ilbc.read(ilbc.write(compile_file(ROOT / "caps_test.ilu", source=text))), caps)


@pytest.mark.parametrize("engine", [VM, FastVM], ids=["ref", "fast"])
@pytest.mark.parametrize("name", CHECKED)
def test_denied_on_every_path(engine: type[VM], name: str) -> None:
    status, out, err = run(engine, program(name), frozenset({"io"}))
    paths = 3 if all_builtins()[name].arity == 0 else 2
    assert out == (denial(name) + "\n") * paths
    assert status == 70 and denial(name) in err


def test_denied_on_the_self_hosted_vm() -> None:
    """The guest's builtins are the host's: every checked builtin is denied there too (one program)."""
    from stage0.host.caps import Policy
    from stage0.toolchain.selfvm import SelfHostedVM

    lines = []
    for name in CHECKED:
        args = ", ".join(["nil"] * max(all_builtins()[name].arity, 1 if all_builtins()[name].arity < 0 else 0))
        lines.append(f"prn(try(\\() {name}({args})).err)")
    image = ilbc.read(ilbc.write(compile_file(ROOT / "caps_test.ilu", source="\n".join(lines) + "\n")))
    out = io.StringIO()
    SelfHostedVM(image, out=out, policy=Policy(frozenset({"io"}))).run_main()
    assert out.getvalue() == "".join(denial(n) + "\n" for n in CHECKED)


SEED_002 = ["__sys_read_file", "__sys_write_file", "__sys_read_dir", "__sys_stat", "__sys_remove", "__sys_mkdir",
            "__sys_tcp_dial", "__sys_tcp_send", "__sys_tcp_recv", "__sys_tcp_close", "__http_get", "__http_post",
            "__sys_get_env", "__sys_set_env", "__sys_run_command", "__sys_get_time", "__sys_sleep", "__cry_hash",
            "__cry_hmac", "__cry_aes_encrypt", "__cry_aes_decrypt", "__cry_random",
            "__buf_new", "__json_encode", "__json_decode"]  # the Syscall ABI's names, and seed 001's three


def test_every_syscall_abi_name_exists_and_is_exercised() -> None:
    """Each name of the spec's table exists, and some test or spec program calls it."""
    import re

    assert [n for n in SEED_002 if n not in all_builtins()] == []
    here = ROOT / "tests"
    text = "".join(p.read_text(encoding="utf-8") for p in here.rglob("*.ilu"))
    text += "".join(p.read_text(encoding="utf-8") for p in here.glob("test_*.py") if p.name != "test_caps.py")
    text += "".join(p.read_text(encoding="utf-8") for p in (ROOT / "lib" / "stdlib").glob("*.ilu"))
    assert [n for n in SEED_002 if not re.search(re.escape(n) + r"\(", text)] == []


@pytest.mark.parametrize("engine", [VM, FastVM], ids=["ref", "fast"])
def test_granted_capability_passes_the_check(engine: type[VM]) -> None:
    text = "prn(typ(__sys_get_time()))\nprn(try(__sys_cwd).err)\n"
    assert run(engine, text, frozenset({"time"}))[1] == f"num\n{denial('__sys_cwd')}\n"
    assert run(engine, text, frozenset({"time", "fs"}))[1] == "num\nnil\n"


@pytest.mark.parametrize("engine", [VM, FastVM], ids=["ref", "fast"])
def test_narrowing_reaches_code_already_run(engine: type[VM]) -> None:
    """The fast tier binds the builtin's fn once; the check still reads caps on each call."""
    text = "g = \\() try(__sys_get_time).err\ni = 0\nwhl i < 300:\n    g()\n    i += 1\n"
    image = ilbc.read(ilbc.write(compile_file(ROOT / "caps_test.ilu", source=text)))
    vm = engine(image, out=io.StringIO())
    g = vm.run_main()["g"]
    assert vm.call(g, []) is None
    vm.caps = grant({"fs"})
    assert vm.call(g, []) == denial("__sys_get_time")
