"""mch (lib/backend/mch.ilu over stage0/host/mch.py): native functions built from ilusm.

The spec program tests/spec/stdlib_mch/ checks the IR text, the object code of
each target and the misuse errors on every engine without the ffi capability.
Here programs hold ffi, so they link and run their functions natively on this
machine, on the reference interpreter and the fast tier; and start-up is
checked not to load llvmlite.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_fast import run_vm

from stage0.fast.vm import FastVM
from stage0.host.mch import native_name
from stage0.host.registry import DEFAULT_CAPS
from stage0.image import ilbc
from stage0.interp.vm import VM
from stage0.paths import ROOT
from stage0.seedc.driver import compile_file

pytestmark = pytest.mark.skipif(native_name() != "x86-64", reason="mch links on x86-64 only")

ENGINES = pytest.mark.parametrize("engine", [VM, FastVM], ids=["ref", "fast"])
WITH_FFI = DEFAULT_CAPS | {"ffi"}

# tri(n) = 0 + 1 + ... + n as a native loop, hyp2(a, b) = a*a + b*b, and scaled(x) = x * 0.1
# calling hyp2 (a call between functions of one module).
MODULE = '''use mch
m = mch.mod(TARGET)
f = mch.func(m, "tri", ["i64"], "i64")
entry = f.blocks[0]
loop = mch.block(f, "loop")
done = mch.block(f, "done")
mch.br(f, loop)
mch.at(f, loop)
s = mch.phi(f, "i64", [[mch.i64(0), entry]])
i = mch.phi(f, "i64", [[mch.i64(0), entry]])
s2 = mch.add(f, s, i)
i2 = mch.add(f, i, mch.i64(1))
mch.inc(s, s2, loop)
mch.inc(i, i2, loop)
mch.cbr(f, mch.cmp(f, ">", i2, mch.arg(f, 0)), done, loop)
mch.at(f, done)
mch.rtn(f, s2)
h = mch.func(m, "hyp2", ["f64", "f64"], "f64")
a = mch.arg(h, 0)
b = mch.arg(h, 1)
mch.rtn(h, mch.add(h, mch.mul(h, a, a), mch.mul(h, b, b)))
g = mch.func(m, "scaled", ["f64"], "f64")
mch.rtn(g, mch.mul(g, mch.call(g, "hyp2", [mch.arg(g, 0), mch.f64(0)]), mch.f64(0.1)))
'''


def module(target: str) -> str:
    """The program building the three functions for a target (in `m`)."""
    return MODULE.replace("TARGET", f'"{target}"')


BUILD = module("x86-64") + "n = mch.link(m)\n"


def run(engine: type[VM], text: str, caps: frozenset[str] = WITH_FFI) -> tuple[int, str, str]:
    """Compile text (from the repository root, so `use mch` finds lib/) and run it on engine."""
    image = ilbc.read(ilbc.write(compile_file(ROOT / "mch_test.ilu", source=text)))
    return run_vm(engine, image, caps)


def printed(engine: type[VM], text: str) -> list[str]:
    """The lines a program holding ffi prints, once it has ended normally."""
    status, out, err = run(engine, text)
    assert (status, err) == (0, "")
    return out.splitlines()


@ENGINES
def test_linked_functions_run_natively(engine: type[VM]) -> None:
    text = BUILD + "prn(n.tri(10), n.tri(100000), n.hyp2(3, 4), n.scaled(3) == 9 * 0.1, typ(n.tri), str(n.tri))\n"
    status, out, err = run(engine, text)
    assert (status, err) == (0, "")
    assert out == "55 5000050000 25 tru fn <fn tri/1>\n"  # the float product bit for bit


@ENGINES
def test_arguments_are_checked(engine: type[VM]) -> None:
    text = BUILD + ("prn(try(\\() n.tri(\"3\")).err)\nprn(try(\\() n.tri(1.5)).err)\n"
                    "prn(try(\\() n.tri(9223372036854775808)).err)\nprn(n.tri(4.0), n.hyp2(1, 0.5))\n"
                    "prn(try(\\() n.tri(1, 2)).err)\n")
    assert printed(engine, text) == [
        "tri expects a num as argument 1, got str",
        "tri expects an integer as argument 1, got 1.5",
        "tri: argument 1 is out of range for i64",
        "10 1.25",
        "tri expects 1 argument, got 2",
    ]


@ENGINES
def test_what_llvm_refuses_is_an_error_value(engine: type[VM]) -> None:
    text = ('ir = "define i64 @one() {\\nentry:\\n  ret i64 1\\n}\\n"\n'
            'prn(__mch_link(ir, "one", "i64()")())\n'
            'prn(__mch_link(ir, "two", "i64()").err)\n'
            'prn(__mch_link(ir, "one", "f64()").err)\n'
            'prn(__mch_link(ir, "one", "i32()").err)\n'
            'prn(__txt_sw(__mch_link("define i64 @x( {", "x", "i64()").err, "mch: "))\n'
            'prn(__mch_ir_obj(ir, "z80").err)\n'
            'ext = "declare i64 @foo()\\ndefine i64 @g() {\\nentry:\\n  %r = call i64 @foo()\\n  ret i64 %r\\n}\\n"\n'
            'prn(__mch_link(ext, "g", "i64()").err)\n'
            'math = "declare double @pow(double, double)\\ndeclare double @llvm.sqrt.f64(double)\\n'
            'define double @h(double %x) {\\nentry:\\n  %p = call double @pow(double %x, double 3.0)\\n'
            '  %r = call double @llvm.sqrt.f64(double %p)\\n  ret double %r\\n}\\n"\n'
            'prn(__mch_link(math, "h", "f64(f64)")(4))\n')
    assert printed(engine, text) == [
        "1",
        "mch: no function 'two' in the module",
        "mch: one is i64 (), not f64()",
        "mch: bad signature 'i32()' (write it like f64(i64,f64))",
        "tru",
        "mch: unknown target 'z80'",
        "mch: the module uses 'foo', which it does not define",
        "8",
    ]


@ENGINES
def test_linking_the_same_text_again_reuses_its_code(engine: type[VM]) -> None:
    text = BUILD + "again = mch.link(m)\nprn(again.tri(3), n.tri(3), again.hyp2(1, 1))\n"
    assert run(engine, text) == (0, "6 6 2\n", "")


def test_link_is_denied_without_ffi() -> None:
    status, out, _ = run(VM, "prn(try(\\() __mch_link(\"\", \"f\", \"i64()\")).err)\n", DEFAULT_CAPS)
    assert out == "capability 'ffi' is not granted (needed by __mch_link)\n" and status == 0


def test_start_up_does_not_load_llvmlite(tmp_path: Path) -> None:
    hello = tmp_path / "hello.ilu"
    hello.write_text("prn(1)\n")
    code = ("import sys\nfrom stage0.cli.commands import main\nsys.argv = ['ilusm', 'run', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('llvmlite' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code, str(hello)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.stdout == "1\nFalse\n", r.stderr
