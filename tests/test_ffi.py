"""`ffi`: C functions called from ilusm, against a small library gcc builds for the test, libc and libm.

Each program runs on the reference interpreter, the fast tier and the
self-hosted VM holding the default set plus `ffi`. Skipped where gcc is
missing. Without `ffi` every call is denied (tests/test_caps.py walks the
builtins; here the module's `# @requires ffi` is checked too).
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stage0.cli.proc import guarded, in_big_stack
from stage0.host.caps import Policy
from stage0.host.registry import DEFAULT_CAPS
from stage0.seedc.driver import compile_with_sources
from stage0.toolchain.engines import execute

C_SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <math.h>
typedef struct { double x, y; } vec;
typedef struct { int32_t id; double score; } rec;
int64_t add(int64_t a, int64_t b) { return a + b; }
int32_t neg32(int32_t a) { return -a; }
uint8_t low_byte(uint64_t v) { return (uint8_t)(v & 0xff); }
double vlen(vec v) { return sqrt(v.x * v.x + v.y * v.y); }
vec vscale(vec v, double k) { vec r = { v.x * k, v.y * k }; return r; }
void fill(char *buf, int64_t n) { for (int64_t i = 0; i < n; i++) buf[i] = (char)('a' + i); }
int32_t rec_id(const rec *r) { return r->id; }
const char *hello(void) { return "hello from C"; }
const char *nothing(void) { return 0; }
int64_t twice(int64_t (*f)(int64_t), int64_t x) { return f(f(x)); }
static char *kept;
void keep(char *p) { kept = p; }
void poke(char c) { kept[0] = c; }
float half(float x) { return x / 2; }
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test library, built with gcc."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    d = tmp_path_factory.mktemp("clib")
    (d / "demo.c").write_text(C_SOURCE)
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(d / "libdemo.so"), str(d / "demo.c"), "-lm"],
                   check=True, capture_output=True)
    return str(d / "libdemo.so")


def run(text: str, engine: str, caps: frozenset[str] = DEFAULT_CAPS | {"ffi"}) -> str:
    """stdout and stderr of a program on an engine."""
    out, err = io.StringIO(), io.StringIO()
    limit = sys.getrecursionlimit()
    try:
        def go() -> int:
            image, _ = compile_with_sources(Path.cwd() / "ffi_test.ilu", source=text)
            return execute(image, [], 500, out=out, engine=engine, policy=Policy(caps))
        in_big_stack(lambda: guarded(go, err))
    finally:
        sys.setrecursionlimit(limit)
    return out.getvalue() + err.getvalue()


ENGINES = ["ref", "fast", "vm"]
PRELUDE = 'use ffi\nd = ffi.open("{lib}")\n'


@pytest.mark.parametrize("engine", ENGINES)
def test_integers_and_floats(lib: str, engine: str) -> None:
    text = PRELUDE + (
        'add = ffi.func(d, "add", "i64", ["i64", "i64"])\n'
        'prn(add(40, 2), add(-9223372036854775807, -1), add(2.0, 3))\n'
        'prn(try(\\() add(9223372036854775808, 0)).err)\n'
        'prn(try(\\() add(1.5, 0)).err)\n'
        'prn(try(\\() add("1", 0)).err)\n'
        'prn(ffi.func(d, "neg32", "i32", ["i32"])(7), try(\\() ffi.func(d, "neg32", "i32", ["i32"])(2147483648)).err)\n'
        'prn(ffi.func(d, "low_byte", "u8", ["u64"])(18446744073709551615))\n'
        'prn(ffi.func(d, "half", "f32", ["f32"])(3))\n')
    assert run(text.replace("{lib}", lib), engine) == (
        "42 -9223372036854775808 5\n"
        "value out of range for i64: 9223372036854775808\n"
        "add expects an integer, got 1.5\n"
        "add: expects a num for i64, got str\n"
        "-7 value out of range for i32: 2147483648\n"
        "255\n"
        "1.5\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_structs_by_value_and_pointers(lib: str, engine: str) -> None:
    text = PRELUDE + (
        'vec = ffi.struct({x: "f64", y: "f64"})\n'
        'prn(vec.size, vec.align)\n'
        'prn(ffi.func(d, "vlen", "f64", [vec])({x: 3, y: 4}))\n'
        'prn(ffi.func(d, "vscale", vec, [vec, "f64"])({x: 1, y: 2}, 2.5))\n'
        'b = __buf_new(8)\n'
        'ffi.func(d, "fill", "void", ["ptr", "i64"])(b, 8)\n'
        'prn(__buf_to_str(b))\n'
        'r = __buf_new(0)\n'
        '__buf_put_u32(r, 70)\n'
        '__buf_put_u32(r, 0)\n'
        '__buf_put_f64(r, 0.5)\n'
        'prn(ffi.func(d, "rec_id", "i32", ["ptr"])(r))\n'
        'h = ffi.func(d, "hello", "ptr", [])()\n'
        'prn(typ(h), ffi.str(h), __buf_to_str(ffi.read(h, 5)))\n'
        'prn(ffi.func(d, "nothing", "ptr", [])())\n'
        'prn(try(\\() ffi.func(d, "vlen", "f64", [vec])(3)).err)\n')
    assert run(text.replace("{lib}", lib), engine) == (
        "16 8\n5\n{x: 2.5, y: 5}\nabcdefgh\n70\nnum hello from C hello\nnil\n"
        "vlen: a struct argument must be an obj, got num\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_callbacks_and_pinned_buffers(lib: str, engine: str) -> None:
    text = PRELUDE + (
        'sq = ffi.cb(\\(x) x * x, "i64", ["i64"])\n'
        'twice = ffi.func(d, "twice", "i64", ["ptr", "i64"])\n'
        'prn(twice(sq, 3))\n'
        'bad = ffi.cb(\\(x) err("no thanks"), "i64", ["i64"])\n'
        'prn(try(\\() twice(bad, 3)).err)\n'
        'p = ffi.alloc(4)\n'
        'ffi.func(d, "keep", "void", ["ptr"])(p)\n'
        'ffi.func(d, "poke", "void", ["u8"])(90)\n'
        'prn(__buf_get(p, 0), try(\\() __buf_push(p, 1)).err)\n')
    assert run(text.replace("{lib}", lib), engine) == "81\nno thanks\n90 buf is pinned by ffi: its size cannot change\n"


@pytest.mark.parametrize("engine", ["ref", "fast"])
def test_libc_and_libm(engine: str) -> None:
    text = ('use ffi\nc = ffi.open(nil)\nm = ffi.open("m")\n'
            'prn(ffi.func(c, "strlen", "u64", ["ptr"])("héllo"))\n'
            'prn(ffi.func(m, "cos", "f64", ["f64"])(0), ffi.func(m, "pow", "f64", ["f64", "f64"])(2, 10))\n'
            'prn(try(\\() ffi.func(c, "strlen", "u64", ["ptr"])("a\\u{0}b")).err)\n'
            'prn(try(\\() ffi.func(c, "no_such_function_xyz", "void", [])).err)\n'
            'prn(try(\\() ffi.open("/no/such/lib.so")).err != nil)\n'
            'prn(try(\\() ffi.func(c, "strlen", "u128", ["ptr"])).err)\n')
    assert run(text, engine) == (
        "6\n1 1024\nstrlen: a string passed as ptr cannot hold NUL\nno function no_such_function_xyz in the library\n"
        "tru\n__ffi_fn: unknown type 'u128' "
        "(types: i64, i32, i8, u64, u32, u8, f64, f32, ptr, void, or an ffi.struct)\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_ffi_is_not_granted_by_default(engine: str) -> None:
    assert run("use ffi\n", engine, DEFAULT_CAPS).startswith(
        "error: module 'ffi' requires capability 'ffi', which is not granted")
    assert run('prn(try(\\() __ffi_open(nil)).err)\n', engine, DEFAULT_CAPS) == \
        "capability 'ffi' is not granted (needed by __ffi_open)\n"


def test_a_function_made_earlier_is_denied_after_a_narrowing(lib: str) -> None:
    """A C function value checks ffi on each call: sbx.run without ffi stops it."""
    text = PRELUDE + ('add = ffi.func(d, "add", "i64", ["i64", "i64"])\n'
                      'prn(__sbx_run(["io"], \\() try(\\() add(1, 2)).err))\nprn(add(1, 2))\n')
    assert run(text.replace("{lib}", lib), "fast") == "capability 'ffi' is not granted (needed by add)\n3\n"


def test_the_command_line_grants_ffi(tmp_path: Path) -> None:
    (tmp_path / "p.ilu").write_text('use ffi\nprn(ffi.func(ffi.open(nil), "abs", "i32", ["i32"])(-4))\n')
    base = [sys.executable, "-m", "stage0", "run"]
    denied = subprocess.run([*base, "p.ilu"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert denied.returncode == 70 and "requires capability 'ffi'" in denied.stderr
    ok = subprocess.run([*base, "--allow", "ffi", "p.ilu"], cwd=tmp_path, capture_output=True, text=True,
                        timeout=120, env=dict(os.environ))
    assert ok.stdout == "4\n", ok.stderr
