"""The self-hosted VM (lib/backend/ilusm_vm.ilu, `--engine vm`) against the reference interpreter.

Every spec program gives the same exit status, output, error message and
trace on the VM as on `ref`; the VM's own limits and paths (guest recursion
counted in its frames, try, modules, tail calls, capabilities) are checked
directly.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from test_fast import FILES, program, run_path, run_source


@pytest.mark.parametrize("path", FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_spec_program_same_on_the_vm(path: Path) -> None:
    ref, vm = run_path(path, ("ref", "vm"))
    assert vm == ref


def same(text: str, max_depth: int = 10_000) -> tuple[int, str, str]:
    """Run text on ref and on the VM; they must agree; give the result."""
    ref = run_source(text, "ref", max_depth)
    assert run_source(text, "vm", max_depth) == ref
    return ref


def test_guest_recursion_ends_in_the_catchable_stack_overflow() -> None:
    text = "f(n) = f(n + 1) + 1\nprn(try(\\() f(0)).err)\nf(0)\n"
    status, out, err = same(text, max_depth=300)
    assert out == "stack overflow\n" and status == 70
    assert "... the line above repeated" in err


def test_deep_guest_recursion_is_not_host_recursion() -> None:
    # 20,000 guest frames live on the VM's frame list: the host makes no call per guest call
    text = "f(n) = if n == 0: 0 | 1 + f(n - 1)\nprn(f(20000))\n"
    assert same(text, max_depth=30_000)[1] == "20000\n"


def test_guest_recursion_100000_deep_overflows_at_the_configured_depth() -> None:
    text = "deep = [0]\nf(n) =\n    deep[0] = n\n    f(n + 1) + 1\nprn(try(\\() f(1)).err, deep[0])\n"
    assert same(text, max_depth=100_000)[1] == "stack overflow 99999\n"


def test_tail_calls_take_no_frames() -> None:
    text = "loop(n, acc) = if n == 0: acc | loop(n - 1, acc + n)\nprn(loop(50000, 0))\n"
    assert same(text, max_depth=100)[1] == "1250025000\n"


def test_try_catches_errors_of_the_vm_and_of_builtins() -> None:
    text = ('prn(try(\\() 1 + "a").err)\nprn(try(\\() [1][5]).err)\nprn(try(\\() nope).err)\n'
            'prn(try(\\() __no_such(1)).err)\nprn(try(\\() len(1, 2)).err)\nprn(try(3).err)\n'
            'f(x) = x\nprn(try(\\() f()).err)\nprn(try(\\() try(\\() err("in")).err + "!").val)\n')
    out = same(text)[1]
    assert "unknown host builtin '__no_such'" in out and "in!" in out


def test_closures_capture_by_reference_and_print_as_functions() -> None:
    text = ("mk() =\n    c = 0\n    get = \\() c\n    c = 5\n    [get, \\(x) x]\n"
            "p = mk()\nprn(p[0](), typ(p[0]), p[1], mk, p[0] == p[0], p[0] == p[1])\n")
    assert same(text)[1] == "5 fn <fn anon/1> <fn mk/0> tru fls\n"


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(program())
def test_random_programs_same_on_the_vm(text: str) -> None:
    """The generated programs of test_fast.py (loops, recursion, closures, containers, try) agree with ref."""
    same(text)


def test_images_run_on_the_vm(tmp_path: Path) -> None:
    """`ilusm run --engine vm prog.ilbc` runs a compiled image, with the program's arguments."""
    import io

    from stage0.cli.commands import run_file
    from stage0.image import ilbc
    from stage0.seedc.driver import compile_file

    src = tmp_path / "p.ilu"
    src.write_text("prn(__sys_args())\nerr(\"bad\")\n", encoding="utf-8")
    (tmp_path / "p.ilbc").write_bytes(ilbc.write(compile_file(src)))
    out, err = io.StringIO(), io.StringIO()
    status = run_file(str(tmp_path / "p.ilbc"), ["a", "b"], out, err, engine="vm")
    assert (status, out.getvalue()) == (70, '["a", "b"]\n')
    assert "error: bad\n  at <module> (" in err.getvalue()


def test_the_vm_verifies_what_it_boots() -> None:
    """An image handed to the VM unverified (as an embedding could) is refused by the VM itself
    (mcdv) with the host verifier's message, before any of its code runs."""
    from test_verify_kinds import BAD, image_of, refusal

    from stage0.errors import RuntimeErr
    from stage0.toolchain.selfvm import SelfHostedVM

    for _, code, nlocals, others, _ in BAD[::3]:
        image = image_of(code, nlocals, others=others)
        with pytest.raises(RuntimeErr) as e:
            SelfHostedVM(image)
        assert str(e.value) == refusal(image)
