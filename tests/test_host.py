"""Tests for the host builtins (stage0/host): every builtin, with its errors."""
from __future__ import annotations

import inspect
import io
import math
import os
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from stage0.errors import RuntimeErr
from stage0.host import all_builtins
from stage0.host.handles import Handles
from stage0.host.registry import DEFAULT_CAPS
from stage0.values import Builtin, type_name

SECTION8 = {"prn", "len", "str", "int", "num", "typ", "try", "err", "asr", "keys", "push", "pop", "has"}
DOMAINS = ("__sys_", "__buf_", "__txt_", "__num_", "__cry_", "__host_", "__vm_", "__mch_", "__jit_", "__http_",
           "__json_", "__rex_", "__sbx_", "__rfl_", "__ffi_", "__ilu_")


class FakeVM:
    """The slice of the VM a builtin may use (stage0/host/registry.py HostContext)."""

    def __init__(self, args: list[str] | None = None, caps: frozenset[str] = DEFAULT_CAPS) -> None:
        self.out = io.StringIO()
        self.err_out = io.StringIO()
        self.args = args if args is not None else []
        self.caps = caps
        self.fs_root: str | None = None
        self.read_roots: tuple[str, ...] = ()
        self.handles = Handles()
        self.kern = ""
        self.ceiling: frozenset[str] | None = None
        self.cap_log: dict[str, tuple[str, str]] | None = None
        self.probes = None  # what a compile read (stage0/toolchain/progcache.py): not watched
        self.guest_call = None
        self.guest_reflect = None

    def current_site(self) -> str:
        return "?"

    def call(self, fn: Any, args: list[Any]) -> Any:
        """Call a Builtin or a Python callable; anything else cannot be called."""
        if isinstance(fn, Builtin):
            return fn.fn(self, *args)
        if callable(fn):
            return fn(*args)
        raise RuntimeErr(f"cannot call {type_name(fn)}")


@pytest.fixture
def vm() -> FakeVM:
    return FakeVM(["a", "b"])


def call(vm: FakeVM, name: str, *args: Any) -> Any:
    """Call the builtin `name` the way the VM does (arity checked first)."""
    b = all_builtins()[name]
    assert b.arity == -1 or b.arity == len(args), f"test calls {name} with {len(args)} args"
    return b.fn(vm, *args)


def fails(vm: FakeVM, name: str, *args: Any) -> str:
    """The RuntimeErr message the builtin raises."""
    with pytest.raises(RuntimeErr) as info:
        call(vm, name, *args)
    return info.value.message


# ---- the registry ---------------------------------------------------------------


def test_every_builtin_has_a_docstring() -> None:
    for name, b in all_builtins().items():
        doc = inspect.getdoc(b.fn)
        assert doc and doc.strip(), name


def test_names_follow_the_domains() -> None:
    for name in all_builtins():
        assert name in SECTION8 or name.startswith(DOMAINS), name
    assert SECTION8 <= set(all_builtins())


def test_registry_entries_are_builtins_with_matching_arity() -> None:
    for name, b in all_builtins().items():
        assert isinstance(b, Builtin) and b.name == name
        params = list(inspect.signature(b.fn).parameters.values())
        assert params[0].name == "ctx"
        if b.arity == -1:
            assert params[1].kind is inspect.Parameter.VAR_POSITIONAL, name
        else:
            assert len(params) - 1 == b.arity, name


def test_abi_names_are_present() -> None:
    abi = {"__sys_read_file", "__sys_write_file", "__sys_read_dir", "__sys_stat", "__sys_remove",
           "__sys_mkdir", "__sys_get_env", "__sys_set_env", "__sys_run_command", "__sys_get_time",
           "__sys_sleep", "__cry_hash", "__cry_random"}
    assert abi <= set(all_builtins())


def test_all_builtins_is_idempotent() -> None:
    assert all_builtins() is all_builtins()


# ---- core ---------------------------------------------------------------------------


def test_prn(vm: FakeVM) -> None:
    assert call(vm, "prn", 1, "two", [1, "two"], None, True, 2.5) is None
    assert call(vm, "prn") is None
    assert vm.out.getvalue() == '1 two [1, "two"] nil tru 2.5\n\n'


def test_len(vm: FakeVM) -> None:
    assert call(vm, "len", "héllo") == 5
    assert call(vm, "len", [1, 2]) == 2
    assert call(vm, "len", {"a": 1}) == 1
    assert call(vm, "len", bytearray(3)) == 3
    assert fails(vm, "len", 5) == "len expects a str, lst, obj or buf, got num"
    assert fails(vm, "len", True) == "len expects a str, lst, obj or buf, got bl"


def test_str(vm: FakeVM) -> None:
    assert call(vm, "str", "x") == "x"
    assert call(vm, "str", 10 / 2) == "5"
    assert call(vm, "str", {"name": "a", "X-Key": 1}) == '{name: "a", "X-Key": 1}'
    assert call(vm, "str", all_builtins()["prn"]) == "<fn prn/...>"


def test_int(vm: FakeVM) -> None:
    assert call(vm, "int", 7) == 7
    assert call(vm, "int", 2.9) == 2 and call(vm, "int", -2.9) == -2
    assert call(vm, "int", "-42") == -42 and call(vm, "int", "+1_000") == 1000
    assert type(call(vm, "int", 3.0)) is int
    assert fails(vm, "int", "abc") == 'cannot convert "abc" to int'
    for bad in ("1.5", "1__0", "_1", "1_", " 1", "0x10", ""):
        assert fails(vm, "int", bad) == f'cannot convert "{bad}" to int'
    assert fails(vm, "int", None) == "cannot convert nil to int"
    assert fails(vm, "int", True) == "cannot convert tru to int"
    assert fails(vm, "int", math.inf) == "cannot convert inf to int"
    assert fails(vm, "int", math.nan) == "cannot convert nan to int"


def test_num(vm: FakeVM) -> None:
    cases = {"2.5": 2.5, "0xFF": 255, "0b101": 5, "1e3": 1000.0, "1_000": 1000,
             "-7": -7, "-0x10": -16, "2.5e-3": 0.0025, "007": 7}
    for text, want in cases.items():
        got = call(vm, "num", text)
        assert got == want and type(got) is type(want), text
    assert call(vm, "num", 3) == 3 and call(vm, "num", 1.5) == 1.5
    assert fails(vm, "num", "x") == 'cannot convert "x" to num'
    for bad in ("", "-", "+1", "1.", ".5", "0x", "1e", "inf", "nan", " 1", "1 ", "--1", "1__0"):
        assert fails(vm, "num", bad) == f'cannot convert "{bad}" to num'
    assert fails(vm, "num", [1]) == "cannot convert [1] to num"
    assert fails(vm, "num", False) == "cannot convert fls to num"


def test_typ(vm: FakeVM) -> None:
    values = [(1, "num"), (1.5, "num"), ("", "str"), (True, "bl"), (None, "nil"),
              ([], "lst"), ({}, "obj"), (bytearray(), "buf"), (all_builtins()["len"], "fn")]
    for v, name in values:
        assert call(vm, "typ", v) == name


def test_try_returns_value(vm: FakeVM) -> None:
    assert call(vm, "try", lambda: 42) == {"val": 42, "err": None}


def test_try_catches_runtime_errors(vm: FakeVM) -> None:
    boom = all_builtins()["err"]
    assert call(vm, "try", lambda: boom.fn(vm, "boom")) == {"val": None, "err": "boom"}
    assert call(vm, "try", 5) == {"val": None, "err": "cannot call num"}


def test_try_does_not_catch_exit(vm: FakeVM) -> None:
    with pytest.raises(SystemExit):
        call(vm, "try", lambda: call(vm, "__sys_exit", 3))


def test_err(vm: FakeVM) -> None:
    assert fails(vm, "err", "boom") == "boom"
    assert fails(vm, "err", [1, "a"]) == '[1, "a"]'
    assert fails(vm, "err", None) == "nil"


def test_asr(vm: FakeVM) -> None:
    assert call(vm, "asr", True) is None
    assert call(vm, "asr", 1, "fine") is None
    assert call(vm, "asr", bytearray()) is None
    assert fails(vm, "asr", False) == "assertion failed"
    assert fails(vm, "asr", [], "empty") == "empty"
    assert fails(vm, "asr", 0, 7) == "7"
    assert fails(vm, "asr") == "asr expects 1 or 2 arguments, got 0"
    assert fails(vm, "asr", 1, 2, 3) == "asr expects 1 or 2 arguments, got 3"


def test_keys(vm: FakeVM) -> None:
    assert call(vm, "keys", {"b": 1, "a": 2}) == ["b", "a"]
    assert call(vm, "keys", {}) == []
    assert fails(vm, "keys", 5) == "keys expects an obj, got num"


def test_push(vm: FakeVM) -> None:
    xs = [1]
    assert call(vm, "push", xs, 2) is xs and xs == [1, 2]
    assert fails(vm, "push", 5, 1) == "push expects a lst, got num"


def test_pop(vm: FakeVM) -> None:
    xs = [1, 2]
    assert call(vm, "pop", xs) == 2 and xs == [1]
    assert fails(vm, "pop", []) == "pop from empty list"
    assert fails(vm, "pop", "ab") == "pop expects a lst, got str"


def test_has(vm: FakeVM) -> None:
    assert call(vm, "has", {"a": None}, "a") is True
    assert call(vm, "has", {"a": 1}, "b") is False
    assert call(vm, "has", [1, [2]], [2.0]) is True
    assert call(vm, "has", [1], True) is False
    assert call(vm, "has", "hello", "ell") is True
    assert call(vm, "has", "hello", "") is True
    assert call(vm, "has", "hello", "z") is False
    assert fails(vm, "has", {"a": 1}, 1) == "object keys must be strings, got num"
    assert fails(vm, "has", "abc", 1) == "has expects a str to look for in a str, got num"
    assert fails(vm, "has", 5, 1) == "has expects a str, lst or obj, got num"


# ---- sys: files -----------------------------------------------------------------------


def test_read_and_write_file(vm: FakeVM, tmp_path: Any) -> None:
    path = str(tmp_path / "a.txt")
    assert call(vm, "__sys_write_file", path, "héllo\r\nworld\n") is None
    with open(path, "rb") as f:
        assert f.read() == "héllo\r\nworld\n".encode()
    assert call(vm, "__sys_read_file", path) == "héllo\r\nworld\n"


def test_read_file_errors(vm: FakeVM, tmp_path: Any) -> None:
    missing = str(tmp_path / "missing.txt")
    assert call(vm, "__sys_read_file", missing) == {
        "err": f"cannot read {missing}: No such file or directory"}
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe")
    assert call(vm, "__sys_read_file", str(bad)) == {"err": f"file is not valid UTF-8: {bad}"}
    assert "err" in call(vm, "__sys_read_file", str(tmp_path))
    assert "err" in call(vm, "__sys_read_file", "nul\0byte")
    assert fails(vm, "__sys_read_file", 5) == "__sys_read_file expects a str, got num"


def test_write_file_errors(vm: FakeVM, tmp_path: Any) -> None:
    target = str(tmp_path / "no" / "such" / "dir.txt")
    assert call(vm, "__sys_write_file", target, "x") == {
        "err": f"cannot write {target}: No such file or directory"}
    assert fails(vm, "__sys_write_file", 1, "x") == "__sys_write_file expects a str, got num"
    assert fails(vm, "__sys_write_file", target, 1) == "__sys_write_file expects a str, got num"
    assert fails(vm, "__sys_write_file", target, "\ud800") == \
        "__sys_write_file: string is not valid Unicode"


def test_read_dir(vm: FakeVM, tmp_path: Any) -> None:
    for name in ("b", "a", "c"):
        (tmp_path / name).write_text("")
    assert call(vm, "__sys_read_dir", str(tmp_path)) == ["a", "b", "c"]
    assert "err" in call(vm, "__sys_read_dir", str(tmp_path / "nope"))
    assert "err" in call(vm, "__sys_read_dir", str(tmp_path / "a"))
    assert fails(vm, "__sys_read_dir", None) == "__sys_read_dir expects a str, got nil"


def test_stat_and_is_dir(vm: FakeVM, tmp_path: Any) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert call(vm, "__sys_stat", str(f)) is True
    assert call(vm, "__sys_stat", str(tmp_path)) is True
    assert call(vm, "__sys_stat", str(tmp_path / "nope")) is False
    assert call(vm, "__sys_is_dir", str(tmp_path)) is True
    assert call(vm, "__sys_is_dir", str(f)) is False
    assert call(vm, "__sys_is_dir", str(tmp_path / "nope")) is False
    assert fails(vm, "__sys_stat", 1) == "__sys_stat expects a str, got num"
    assert fails(vm, "__sys_is_dir", []) == "__sys_is_dir expects a str, got lst"


def test_remove(vm: FakeVM, tmp_path: Any) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    assert call(vm, "__sys_remove", str(f)) is None and not f.exists()
    d = tmp_path / "d"
    d.mkdir()
    assert call(vm, "__sys_remove", str(d)) is None and not d.exists()
    assert call(vm, "__sys_remove", str(f)) == {"err": f"cannot remove {f}: No such file or directory"}
    full = tmp_path / "full"
    (full / "sub").mkdir(parents=True)
    assert "err" in call(vm, "__sys_remove", str(full))
    assert fails(vm, "__sys_remove", 1) == "__sys_remove expects a str, got num"


def test_mkdir(vm: FakeVM, tmp_path: Any) -> None:
    d = tmp_path / "x" / "y"
    assert call(vm, "__sys_mkdir", str(d)) is None and d.is_dir()
    assert call(vm, "__sys_mkdir", str(d)) is None
    f = tmp_path / "file"
    f.write_text("")
    assert "err" in call(vm, "__sys_mkdir", str(f))
    assert fails(vm, "__sys_mkdir", 1) == "__sys_mkdir expects a str, got num"


def test_cwd(vm: FakeVM, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert os.path.samefile(call(vm, "__sys_cwd"), tmp_path)


# ---- sys: environment, time, process --------------------------------------------------


def test_env(vm: FakeVM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ILUSM_TEST_VAR", raising=False)
    assert call(vm, "__sys_get_env", "ILUSM_TEST_VAR") is None
    monkeypatch.setenv("ILUSM_TEST_VAR", "seed")  # so monkeypatch restores it
    assert call(vm, "__sys_set_env", "ILUSM_TEST_VAR", "v1") is None
    assert call(vm, "__sys_get_env", "ILUSM_TEST_VAR") == "v1"
    assert os.environ["ILUSM_TEST_VAR"] == "v1"


def test_env_errors(vm: FakeVM) -> None:
    assert "err" in call(vm, "__sys_set_env", "BAD=NAME", "v")
    assert "err" in call(vm, "__sys_set_env", "", "v")
    assert fails(vm, "__sys_get_env", 1) == "__sys_get_env expects a str, got num"
    assert fails(vm, "__sys_set_env", "K", 1) == "__sys_set_env expects a str, got num"
    assert fails(vm, "__sys_set_env", None, "v") == "__sys_set_env expects a str, got nil"


def test_get_time(vm: FakeVM) -> None:
    t = call(vm, "__sys_get_time")
    assert type(t) is float and abs(t - time.time()) < 5


def test_sleep(vm: FakeVM) -> None:
    start = time.monotonic()
    assert call(vm, "__sys_sleep", 20) is None
    assert time.monotonic() - start >= 0.015
    assert call(vm, "__sys_sleep", 0) is None
    assert call(vm, "__sys_sleep", 0.5) is None
    msg = "__sys_sleep expects a non-negative num of milliseconds"
    assert fails(vm, "__sys_sleep", -1) == msg
    assert fails(vm, "__sys_sleep", "1") == msg
    assert fails(vm, "__sys_sleep", math.nan) == msg


def test_run_command(vm: FakeVM) -> None:
    code = "import sys; print('out é'); print('bad', file=sys.stderr); sys.exit(3)"
    r = call(vm, "__sys_run_command", sys.executable, ["-c", code])
    assert r == {"code": 3, "out": "out é\n", "errout": "bad\n"}


def test_run_command_args_are_not_shell_parsed(vm: FakeVM) -> None:
    code = "import sys; sys.stdout.write('|'.join(sys.argv[1:]))"
    r = call(vm, "__sys_run_command", sys.executable, ["-c", code, "a b", "$HOME", ";x"])
    assert r == {"code": 0, "out": "a b|$HOME|;x", "errout": ""}


def test_run_command_errors(vm: FakeVM) -> None:
    r = call(vm, "__sys_run_command", "/no/such/program-ilusm", [])
    assert r == {"err": "cannot run /no/such/program-ilusm: No such file or directory"}
    assert fails(vm, "__sys_run_command", 1, []) == "__sys_run_command expects a str, got num"
    assert fails(vm, "__sys_run_command", "ls", "x") == "__sys_run_command expects a lst, got str"
    assert fails(vm, "__sys_run_command", "ls", [1]) == "__sys_run_command expects a str, got num"


def test_args(vm: FakeVM) -> None:
    got = call(vm, "__sys_args")
    assert got == ["a", "b"]
    got.append("c")
    assert vm.args == ["a", "b"]


def test_exit(vm: FakeVM) -> None:
    with pytest.raises(SystemExit) as info:
        call(vm, "__sys_exit", 4)
    assert info.value.code == 4
    assert fails(vm, "__sys_exit", "1") == "__sys_exit expects an integer, got str"
    assert fails(vm, "__sys_exit", 1.5) == "__sys_exit expects an integer, got 1.5"
    # A status the OS would wrap (256 -> 0) must not turn a failure into success.
    assert fails(vm, "__sys_exit", 256) == "__sys_exit: status must be from 0 to 255, got 256"
    assert fails(vm, "__sys_exit", -1) == "__sys_exit: status must be from 0 to 255, got -1"


def test_write_stdout_and_stderr(vm: FakeVM) -> None:
    assert call(vm, "__sys_write_stdout", "a") is None
    assert call(vm, "__sys_write_stdout", "b\n") is None
    assert call(vm, "__sys_write_stderr", "e") is None
    assert vm.out.getvalue() == "ab\n" and vm.err_out.getvalue() == "e"
    assert fails(vm, "__sys_write_stdout", 1) == "__sys_write_stdout expects a str, got num"
    assert fails(vm, "__sys_write_stderr", None) == "__sys_write_stderr expects a str, got nil"


def test_read_line(vm: FakeVM, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("one\ntwo\r\n\nlast"))
    got = [call(vm, "__sys_read_line") for _ in range(5)]
    assert got == ["one", "two", "", "last", None]


def test_read_line_error(vm: FakeVM, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.TextIOWrapper(io.BytesIO(b"\xff\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", raw)
    assert "err" in call(vm, "__sys_read_line")
    raw.close()


# ---- buf -----------------------------------------------------------------------------


def test_buf_new_and_len(vm: FakeVM) -> None:
    b = call(vm, "__buf_new", 3)
    assert b == bytearray(3) and type(b) is bytearray
    assert call(vm, "__buf_len", b) == 3
    assert call(vm, "__buf_new", 0) == bytearray()
    assert fails(vm, "__buf_new", -1) == "__buf_new expects a size of 0 or more, got -1"
    assert fails(vm, "__buf_new", "3") == "__buf_new expects an integer, got str"
    assert fails(vm, "__buf_new", 1 << 80) == "__buf_new: size too large"
    assert fails(vm, "__buf_len", "x") == "__buf_len expects a buf, got str"


def test_buf_get_set_push(vm: FakeVM) -> None:
    b = bytearray(b"\x01\x02")
    assert call(vm, "__buf_get", b, 0) == 1 and call(vm, "__buf_get", b, -1) == 2
    assert call(vm, "__buf_set", b, 0, 255) is None and b[0] == 255
    assert call(vm, "__buf_push", b, 7) is b and b == bytearray(b"\xff\x02\x07")
    assert fails(vm, "__buf_get", b, 5) == "index 5 out of range for length 3"
    assert fails(vm, "__buf_get", b, "0") == "index must be an integer, got str"
    assert fails(vm, "__buf_get", [1], 0) == "__buf_get expects a buf, got lst"
    assert fails(vm, "__buf_set", b, 0, 256) == "a buf element must be an integer from 0 to 255"
    assert fails(vm, "__buf_set", b, 9, 1) == "index 9 out of range for length 3"
    assert fails(vm, "__buf_set", "s", 0, 1) == "__buf_set expects a buf, got str"
    assert fails(vm, "__buf_push", b, -1) == "a buf element must be an integer from 0 to 255"
    assert fails(vm, "__buf_push", b, True) == "a buf element must be an integer from 0 to 255"
    assert fails(vm, "__buf_push", None, 1) == "__buf_push expects a buf, got nil"


@pytest.mark.parametrize("width,fmt,value,lo,hi", [
    ("u8", "<B", 0xAB, 0, 0xFF),
    ("u16", "<H", 0xBEEF, 0, 0xFFFF),
    ("u32", "<I", 0xDEADBEEF, 0, 0xFFFF_FFFF),
    ("u64", "<Q", 0x0123_4567_89AB_CDEF, 0, (1 << 64) - 1),
    ("i64", "<q", -2, -(1 << 63), (1 << 63) - 1),
])
def test_buf_put_get_integers(vm: FakeVM, width: str, fmt: str, value: int, lo: int, hi: int) -> None:
    b = bytearray(b"\x00")
    assert call(vm, f"__buf_put_{width}", b, value) is b
    assert bytes(b[1:]) == struct.pack(fmt, value)
    assert call(vm, f"__buf_get_{width}", b, 1) == value
    call(vm, f"__buf_put_{width}", b, lo)
    call(vm, f"__buf_put_{width}", b, hi)
    size = struct.calcsize(fmt)
    assert call(vm, f"__buf_get_{width}", b, 1 + size) == lo
    assert call(vm, f"__buf_get_{width}", b, 1 + 2 * size) == hi
    assert fails(vm, f"__buf_put_{width}", b, hi + 1) == f"value out of range for {width}"
    assert fails(vm, f"__buf_put_{width}", b, lo - 1) == f"value out of range for {width}"
    assert fails(vm, f"__buf_put_{width}", b, "1") == f"__buf_put_{width} expects an integer, got str"
    assert fails(vm, f"__buf_get_{width}", b, len(b) - size + 1) == "read past the end of the buf"
    assert fails(vm, f"__buf_get_{width}", b, -1) == "read past the end of the buf"
    assert fails(vm, f"__buf_get_{width}", "s", 0) == f"__buf_get_{width} expects a buf, got str"


def test_buf_put_get_f64(vm: FakeVM) -> None:
    b = bytearray()
    assert call(vm, "__buf_put_f64", b, 2.5) is b and bytes(b) == struct.pack("<d", 2.5)
    call(vm, "__buf_put_f64", b, 3)
    assert call(vm, "__buf_get_f64", b, 0) == 2.5
    assert call(vm, "__buf_get_f64", b, 8) == 3.0
    assert fails(vm, "__buf_get_f64", b, 9) == "read past the end of the buf"
    assert fails(vm, "__buf_put_f64", b, 1 << 2000) == "value out of range for f64"
    assert fails(vm, "__buf_put_f64", b, "x") == "__buf_put_f64 expects a num, got str"


def test_buf_put_bytes_and_slice(vm: FakeVM) -> None:
    b = bytearray(b"ab")
    assert call(vm, "__buf_put_bytes", b, bytearray(b"cd")) is b and b == bytearray(b"abcd")
    assert call(vm, "__buf_put_bytes", b, b) == bytearray(b"abcdabcd")
    s = call(vm, "__buf_slice", b, 1, 3)
    assert s == bytearray(b"bc") and s is not b
    assert call(vm, "__buf_slice", b, -2, 100) == bytearray(b"cd")
    assert call(vm, "__buf_slice", b, 5, 2) == bytearray()
    assert fails(vm, "__buf_put_bytes", b, "cd") == "__buf_put_bytes expects a buf, got str"
    assert fails(vm, "__buf_slice", b, "1", 2) == "__buf_slice expects an integer, got str"


def test_buf_str_and_hex(vm: FakeVM) -> None:
    b = call(vm, "__buf_from_str", "hé")
    assert b == bytearray("hé".encode()) and type(b) is bytearray
    assert call(vm, "__buf_to_str", b) == "hé"
    assert call(vm, "__buf_to_str", bytearray(b"\xff")) == {"err": "buf is not valid UTF-8"}
    assert call(vm, "__buf_hex", bytearray(b"\x00\xab\x10")) == "00ab10"
    assert fails(vm, "__buf_from_str", 1) == "__buf_from_str expects a str, got num"
    assert fails(vm, "__buf_to_str", "x") == "__buf_to_str expects a buf, got str"
    assert fails(vm, "__buf_hex", "x") == "__buf_hex expects a buf, got str"


def test_buf_files(vm: FakeVM, tmp_path: Any) -> None:
    path = str(tmp_path / "bin")
    data = bytearray(b"\x00\xff\r\n")
    assert call(vm, "__buf_write_file", path, data) is None
    got = call(vm, "__buf_read_file", path)
    assert got == data and type(got) is bytearray
    missing = str(tmp_path / "nope")
    assert call(vm, "__buf_read_file", missing) == {"err": f"cannot read {missing}: No such file or directory"}
    assert "err" in call(vm, "__buf_write_file", str(tmp_path / "a" / "b"), data)
    assert fails(vm, "__buf_read_file", 1) == "__buf_read_file expects a str, got num"
    assert fails(vm, "__buf_write_file", path, "s") == "__buf_write_file expects a buf, got str"


# ---- txt -----------------------------------------------------------------------------


def test_txt_at(vm: FakeVM) -> None:
    assert call(vm, "__txt_at", "héllo", 1) == "é"
    assert call(vm, "__txt_at", "ab", -1) == "b"
    assert fails(vm, "__txt_at", "ab", 5) == "index 5 out of range for length 2"
    assert fails(vm, "__txt_at", "ab", -3) == "index -3 out of range for length 2"
    assert fails(vm, "__txt_at", "ab", "0") == "index must be an integer, got str"
    assert fails(vm, "__txt_at", [1], 0) == "__txt_at expects a str, got lst"


def test_txt_sub(vm: FakeVM) -> None:
    assert call(vm, "__txt_sub", "hello", 1, 3) == "el"
    assert call(vm, "__txt_sub", "hello", -3, 100) == "llo"
    assert call(vm, "__txt_sub", "hello", 4, 2) == ""
    assert call(vm, "__txt_sub", "héllo", 0, 2.0) == "hé"
    assert fails(vm, "__txt_sub", "hello", 0, None) == "__txt_sub expects an integer, got nil"
    assert fails(vm, "__txt_sub", 1, 0, 1) == "__txt_sub expects a str, got num"


def test_txt_ord_chr(vm: FakeVM) -> None:
    assert call(vm, "__txt_ord", "A") == 65 and call(vm, "__txt_ord", "😀") == 0x1F600
    assert call(vm, "__txt_chr", 0x1F600) == "😀" and call(vm, "__txt_chr", 0) == "\0"
    assert fails(vm, "__txt_ord", "ab") == '__txt_ord expects a one-character str, got "ab"'
    assert fails(vm, "__txt_ord", "") == '__txt_ord expects a one-character str, got ""'
    assert fails(vm, "__txt_ord", 1) == "__txt_ord expects a str, got num"
    assert fails(vm, "__txt_chr", -1) == "invalid code point -1"
    assert fails(vm, "__txt_chr", 0x110000) == "invalid code point 1114112"
    assert fails(vm, "__txt_chr", 0xD800) == "invalid code point 55296"
    assert fails(vm, "__txt_chr", "a") == "__txt_chr expects an integer, got str"


def test_txt_fnd(vm: FakeVM) -> None:
    assert call(vm, "__txt_fnd", "abcabc", "c", 0) == 2
    assert call(vm, "__txt_fnd", "abcabc", "c", 3) == 5
    assert call(vm, "__txt_fnd", "abc", "z", 0) == -1
    assert call(vm, "__txt_fnd", "abc", "a", 10) == -1
    assert fails(vm, "__txt_fnd", "abc", 1, 0) == "__txt_fnd expects a str, got num"
    assert fails(vm, "__txt_fnd", "abc", "a", None) == "__txt_fnd expects an integer, got nil"


def test_txt_spl_jn(vm: FakeVM) -> None:
    assert call(vm, "__txt_spl", "a,b,,c", ",") == ["a", "b", "", "c"]
    assert call(vm, "__txt_spl", "héy", "") == ["h", "é", "y"]
    assert call(vm, "__txt_spl", "", ",") == [""]
    assert call(vm, "__txt_jn", ["a", 1, None, [2]], "-") == "a-1-nil-[2]"
    assert call(vm, "__txt_jn", [], ",") == ""
    assert fails(vm, "__txt_spl", "a", None) == "__txt_spl expects a str, got nil"
    assert fails(vm, "__txt_jn", "ab", ",") == "__txt_jn expects a lst, got str"
    assert fails(vm, "__txt_jn", ["a"], 1) == "__txt_jn expects a str, got num"


def test_txt_case_trim_replace(vm: FakeVM) -> None:
    assert call(vm, "__txt_up", "abé") == "ABÉ"
    assert call(vm, "__txt_lo", "ABÉ") == "abé"
    assert call(vm, "__txt_trm", " \t x y \r\n") == "x y"
    assert call(vm, "__txt_rep", "a.b.c", ".", "::") == "a::b::c"
    assert call(vm, "__txt_rep", "abc", "z", "y") == "abc"
    for name in ("__txt_up", "__txt_lo", "__txt_trm"):
        assert fails(vm, name, 1) == f"{name} expects a str, got num"
    assert fails(vm, "__txt_rep", "a", "a", 1) == "__txt_rep expects a str, got num"


def test_txt_sw_ew(vm: FakeVM) -> None:
    assert call(vm, "__txt_sw", "hello", "he") is True
    assert call(vm, "__txt_sw", "hello", "lo") is False
    assert call(vm, "__txt_ew", "hello", "lo") is True
    assert call(vm, "__txt_ew", "hello", "") is True
    assert fails(vm, "__txt_sw", "a", 1) == "__txt_sw expects a str, got num"
    assert fails(vm, "__txt_ew", 1, "a") == "__txt_ew expects a str, got num"


def test_txt_lst_rpt(vm: FakeVM) -> None:
    assert call(vm, "__txt_lst", "aé") == ["a", "é"]
    assert call(vm, "__txt_lst", "") == []
    assert call(vm, "__txt_rpt", "ab", 3) == "ababab"
    assert call(vm, "__txt_rpt", "ab", 0) == "" and call(vm, "__txt_rpt", "ab", -2) == ""
    assert fails(vm, "__txt_lst", None) == "__txt_lst expects a str, got nil"
    assert fails(vm, "__txt_rpt", "ab", 1.5) == "__txt_rpt expects an integer, got 1.5"
    assert fails(vm, "__txt_rpt", "ab", 1 << 70) == "__txt_rpt: string too large"


def test_txt_char_classes(vm: FakeVM) -> None:
    table = {
        "__txt_isdg": ("0", "9"),
        "__txt_isal": ("a", "Z", "_"),
        "__txt_isan": ("a", "Z", "_", "0", "9"),
        "__txt_issp": (" ", "\t", "\r", "\n"),
    }
    probes = ["0", "9", "a", "Z", "_", " ", "\t", "\r", "\n", "-", "é", "٣", "\f", "", "ab"]
    for name, members in table.items():
        for c in probes:
            assert call(vm, name, c) is (c in members), (name, c)
        assert fails(vm, name, None) == f"{name} expects a str, got nil"


def test_txt_string_builder(vm: FakeVM) -> None:
    sb = call(vm, "__txt_sb_new")
    assert sb == [] and call(vm, "__txt_sb_new") is not sb
    assert call(vm, "__txt_sb_add", sb, "a") is sb
    call(vm, "__txt_sb_add", sb, 1)
    call(vm, "__txt_sb_add", sb, [None])
    assert call(vm, "__txt_sb_str", sb) == "a1[nil]"
    assert call(vm, "__txt_sb_str", []) == ""
    assert fails(vm, "__txt_sb_add", "x", "a") == "__txt_sb_add expects a lst, got str"
    assert fails(vm, "__txt_sb_str", {}) == "__txt_sb_str expects a lst, got obj"


# ---- num -----------------------------------------------------------------------------


def test_num_idiv(vm: FakeVM) -> None:
    assert call(vm, "__num_idiv", 7, 2) == 3 and call(vm, "__num_idiv", -7, 2) == -4
    assert call(vm, "__num_idiv", 10 ** 30, 10 ** 15) == 10 ** 15
    assert type(call(vm, "__num_idiv", 8.0, 2)) is int
    assert fails(vm, "__num_idiv", 1, 0) == "division by zero"
    assert fails(vm, "__num_idiv", 1.5, 1) == "__num_idiv expects an integer, got 1.5"
    assert fails(vm, "__num_idiv", 1, "2") == "__num_idiv expects an integer, got str"


def test_num_bitwise(vm: FakeVM) -> None:
    assert call(vm, "__num_and", 0b1100, 0b1010) == 0b1000
    assert call(vm, "__num_or", 0b1100, 0b1010) == 0b1110
    assert call(vm, "__num_xor", 0b1100, 0b1010) == 0b0110
    assert call(vm, "__num_shl", 1, 70) == 1 << 70
    assert call(vm, "__num_shr", -16, 2) == -4
    assert fails(vm, "__num_shl", 1, -1) == "negative shift count"
    assert fails(vm, "__num_shr", 1, -1) == "negative shift count"
    assert fails(vm, "__num_shl", 1, 1 << 70) == "number too large"
    for name in ("__num_and", "__num_or", "__num_xor", "__num_shl", "__num_shr"):
        assert fails(vm, name, 1.5, 1) == f"{name} expects an integer, got 1.5"
        assert fails(vm, name, 1, True) == f"{name} expects an integer, got bl"


def test_num_rounding(vm: FakeVM) -> None:
    assert call(vm, "__num_floor", 2.7) == 2 and call(vm, "__num_floor", -2.1) == -3
    assert call(vm, "__num_ceil", 2.1) == 3 and call(vm, "__num_ceil", -2.7) == -2
    assert [call(vm, "__num_round", x) for x in (2.5, -2.5, 0.5, 1.4999, 0.49999999999999994)] == [3, -3, 1, 1, 0]
    for name in ("__num_floor", "__num_ceil", "__num_round"):
        assert type(call(vm, name, 2.5)) is int
        assert call(vm, name, 10 ** 20) == 10 ** 20
        assert call(vm, name, math.inf) == math.inf
        assert math.isnan(call(vm, name, math.nan))
        assert fails(vm, name, "1") == f"{name} expects a num, got str"


def test_num_sqrt(vm: FakeVM) -> None:
    assert call(vm, "__num_sqrt", 9) == 3.0 and type(call(vm, "__num_sqrt", 9)) is float
    assert call(vm, "__num_sqrt", 2.25) == 1.5
    assert fails(vm, "__num_sqrt", -4) == "square root of negative number -4"
    assert fails(vm, "__num_sqrt", 10 ** 400) == "number too large"
    assert fails(vm, "__num_sqrt", None) == "__num_sqrt expects a num, got nil"


def test_num_is_int(vm: FakeVM) -> None:
    assert call(vm, "__num_is_int", 3) is True
    assert call(vm, "__num_is_int", 3.0) is True
    assert call(vm, "__num_is_int", 3.5) is False
    assert call(vm, "__num_is_int", math.inf) is False
    assert call(vm, "__num_is_int", True) is False
    assert call(vm, "__num_is_int", "3") is False


def test_num_parse(vm: FakeVM) -> None:
    assert call(vm, "__num_parse", "0xFF") == 255
    assert call(vm, "__num_parse", "-2.5") == -2.5
    assert call(vm, "__num_parse", 4) == 4
    assert call(vm, "__num_parse", "abc") is None
    assert call(vm, "__num_parse", "") is None
    assert call(vm, "__num_parse", None) is None
    assert call(vm, "__num_parse", [1]) is None


# ---- cry -----------------------------------------------------------------------------


def test_cry_hash(vm: FakeVM) -> None:
    assert call(vm, "__cry_hash", "abc", "sha256") == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert call(vm, "__cry_hash", "abc", "sha1") == "a9993e364706816aba3e25717850c26c9cd0d89d"
    assert call(vm, "__cry_hash", "abc", "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert call(vm, "__cry_hash", "abc", "sha512").startswith("ddaf35a193617aba")
    assert call(vm, "__cry_hash", bytearray(b"abc"), "md5") == "900150983cd24fb0d6963f7d28e17f72"
    assert call(vm, "__cry_hash", "é", "sha1") == call(vm, "__cry_hash", bytearray("é".encode()), "sha1")


def test_cry_hash_errors(vm: FakeVM) -> None:
    assert call(vm, "__cry_hash", "abc", "sha3") == {"err": "unknown hash algorithm: sha3"}
    assert call(vm, "__cry_hash", "abc", "SHA256") == {"err": "unknown hash algorithm: SHA256"}
    assert fails(vm, "__cry_hash", 1, "md5") == "__cry_hash expects a str or buf, got num"
    assert fails(vm, "__cry_hash", "a", None) == "__cry_hash expects a str, got nil"


def test_cry_crc32(vm: FakeVM) -> None:
    assert call(vm, "__cry_crc32", "123456789") == 0xCBF43926
    assert call(vm, "__cry_crc32", bytearray(b"\xff" * 4)) == zlib.crc32(b"\xff" * 4)
    assert call(vm, "__cry_crc32", "") == 0
    assert fails(vm, "__cry_crc32", []) == "__cry_crc32 expects a str or buf, got lst"


def test_cry_random(vm: FakeVM) -> None:
    a, b = call(vm, "__cry_random", 16), call(vm, "__cry_random", 16)
    assert len(a) == 32 and a != b and a == a.lower()
    int(a, 16)
    assert call(vm, "__cry_random", 0) == ""
    assert fails(vm, "__cry_random", -1) == "__cry_random expects a count from 0 to 16777216, got -1"
    assert fails(vm, "__cry_random", "4") == "__cry_random expects an integer, got str"


def test_num_isflt(vm: FakeVM) -> None:
    assert call(vm, "__num_isflt", 2.0) is True and call(vm, "__num_isflt", 2) is False
    assert fails(vm, "__num_isflt", "x") == "__num_isflt expects a num, got str"


def test_realpath_and_relpath(vm: FakeVM, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    real = call(vm, "__sys_realpath", str(tmp_path / "a" / ".." / "a"))
    assert real == os.path.realpath(tmp_path / "a")
    assert call(vm, "__sys_relpath", str(tmp_path / "a" / "b.ilu"), str(tmp_path)) == "a/b.ilu"
    assert call(vm, "__sys_relpath", str(tmp_path), str(tmp_path / "a")) == ".."
    # Paths no file can have are answers, not host exceptions.
    assert call(vm, "__sys_realpath", str(tmp_path / "a\0b")) == str(tmp_path / "a\0b")
    assert call(vm, "__sys_relpath", "", "")["err"].startswith("cannot relate '' to ''")


def test_set_env_rejects_bad_names_with_the_abi_message(vm: FakeVM) -> None:
    for key, value in (("", "x"), ("A=B", "x"), ("A\0B", "x"), ("OK_NAME", "a\0b")):
        assert call(vm, "__sys_set_env", key, value) == {
            "err": f"cannot set environment variable {key}: "
                   "a name must be non-empty without '=' or NUL, a value without NUL"}


def test_read_line_that_is_not_utf8_is_an_error_value(vm: FakeVM, monkeypatch) -> None:
    """Undecodable input reaches Python as lone surrogates; the ABI says {err}."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"\xffbad\nok\n"), errors="surrogateescape"))
    assert call(vm, "__sys_read_line") == {"err": "cannot read standard input: it is not valid UTF-8"}
    assert call(vm, "__sys_read_line") == "ok"


def test_txt_letter(vm: FakeVM) -> None:
    assert [call(vm, "__txt_letter", c) for c in ("a", "é", "ж", "_", "1", "", "ab")] == \
        [True, True, True, False, False, False, False]


def test_host_builtin_gives_the_registered_object(vm: FakeVM) -> None:
    assert call(vm, "__host_builtin", "__txt_up") is all_builtins()["__txt_up"]
    assert call(vm, "__host_builtin", "no_such_builtin") is None
    assert fails(vm, "__host_builtin", 3) == "__host_builtin expects a str, got num"


def test_host_builtin_keeps_the_capability_check() -> None:
    narrow = FakeVM(caps=frozenset({"io"}))
    cwd = call(narrow, "__host_builtin", "__sys_cwd")
    with pytest.raises(RuntimeErr, match="capability 'fs:ro' is not granted"):
        narrow.call(cwd, [])


def test_host_apply_calls_with_a_list_of_arguments(vm: FakeVM) -> None:
    up = all_builtins()["__txt_up"]
    assert call(vm, "__host_apply", up, ["ab"]) == "AB"
    # (the arity check is the VM's call, held to the reference in tests/test_vm.py)
    assert fails(vm, "__host_apply", up, "ab") == "__host_apply expects a lst, got str"


def test_vm_fn_values_are_functions_that_carry_their_data(vm: FakeVM) -> None:
    data = {"proto": 1}
    f = call(vm, "__vm_fn", "g", 2, data)
    assert type_name(f) == "fn" and call(vm, "str", f) == "<fn g/2>"
    assert call(vm, "__vm_fn_data", f) is data and call(vm, "__vm_fn_data", len) is None
    other = call(vm, "__vm_fn", "g", 2, data)
    assert call(vm, "__vm_fn_data", other) is data and f is not other


def test_vm_field_rules_have_the_reference_messages(vm: FakeVM) -> None:
    o: dict[str, Any] = {"a": 1}
    assert call(vm, "__vm_field", o, "a") == 1 and call(vm, "__vm_field", o, "b") is None
    assert "cannot read field 'a' of num" in fails(vm, "__vm_field", 3, "a")
    assert call(vm, "__vm_set_field", o, "b", 2) is o and o["b"] == 2
    assert fails(vm, "__vm_set_field", [], "b", 2) == "cannot set field 'b' of lst"


def test_vm_range_and_undefined(vm: FakeVM) -> None:
    assert call(vm, "__vm_range", 1, 3) == [1, 4, 1] and call(vm, "__vm_range", 3, 1) == [3, 0, -1]
    assert fails(vm, "__vm_range", 1, 2.5) == "range bounds must be integers"
    assert call(vm, "__vm_undefined", "zz") == "undefined name 'zz'"


def test_vm_fail_raises_with_the_given_trace(vm: FakeVM) -> None:
    with pytest.raises(RuntimeErr) as info:
        call(vm, "__vm_fail", "boom", [["f", "a.ilu", 3], ["<module>", "a.ilu", 1]])
    assert info.value.message == "boom" and info.value.trace == [("f", "a.ilu", 3), ("<module>", "a.ilu", 1)]
