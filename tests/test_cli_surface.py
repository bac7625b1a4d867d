"""The command line as people expect it: trace collapsing, `ilusm FILE`, `run -`, `-e`,
`--trace` offsets, the path convention in errors, and the README's examples.

In-process through tests/cli_util.py where possible; a real process where
standard input is under test.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_util import ilusm

from stage0.errors import RuntimeErr

ROOT = Path(__file__).resolve().parent.parent
ENGINES = ["ref", "fast"]


def write(path: Path, text: str) -> str:
    """Write a UTF-8 file (making its folder) and return its path as text."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_render_collapses_runs_longer_than_three() -> None:
    e = RuntimeErr("boom")
    e.trace = [("<module>", "p.ilu", 9)] + [("f", "p.ilu", 2)] * 6 + [("g", "p.ilu", 1)] * 3
    assert e.render() == "\n".join([
        "error: boom",
        "  at <module> (p.ilu:9)",
        "  at f (p.ilu:2)",
        "  at f (p.ilu:2)",
        "  at f (p.ilu:2)",
        "  ... the line above repeated 3 more times",
        "  at g (p.ilu:1)",
        "  at g (p.ilu:1)",
        "  at g (p.ilu:1)",
    ])


def test_render_keeps_alternating_lines() -> None:
    e = RuntimeErr("boom")
    e.trace = [("f", "p.ilu", 1), ("g", "p.ilu", 2)] * 3
    assert e.render().count("\n") == 6 and "repeated" not in e.render()


@pytest.mark.parametrize("engine", ENGINES)
def test_stack_overflow_trace_is_short(tmp_path: Path, engine: str) -> None:
    p = write(tmp_path / "deep.ilu", "down(n) = 1 + down(n + 1)\ndown(0)\n")
    code, out, err = ilusm("run", "--engine", engine, "--max-depth", "500", p)
    assert code == 70 and out == ""
    assert err.splitlines() == [
        "error: stack overflow",
        f"  at <module> ({p}:2)",
        f"  at down ({p}:1)",
        f"  at down ({p}:1)",
        f"  at down ({p}:1)",
        "  ... the line above repeated 496 more times",
    ]


# ---- `ilusm FILE`, `run -`, `-e CODE` -------------------------------------------------------


def test_file_first_is_run(tmp_path: Path) -> None:
    p = write(tmp_path / "p.ilu", "prn __sys_args()\n")
    assert ilusm(p, "a", "--trace") == (0, '["a", "--trace"]\n', "")
    assert ilusm(p) == ilusm("run", p)


def test_run_options_before_the_file(tmp_path: Path) -> None:
    p = write(tmp_path / "p.ilu", "prn 1 + 2\n")
    assert ilusm("--engine", "ref", p) == (0, "3\n", "")


def test_command_name_wins_over_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "run", 'prn "the file"\n')
    code, _, err = ilusm("run")
    assert code == 2 and "no file given" in err
    assert ilusm("./run") == (0, "the file\n", "")


def test_eval_runs_code_with_args() -> None:
    assert ilusm("-e", "prn __sys_args()", "a", "b") == (0, '["a", "b"]\n', "")
    assert ilusm("run", "--eval", "prn 6 * 7") == (0, "42\n", "")


def test_eval_errors_name_string() -> None:
    code, out, err = ilusm("-e", "prn 1\nf() = 1 / 0\n1 + f()")
    assert (code, out) == (70, "1\n")
    assert err.splitlines() == ["error: division by zero", "  at <module> (<string>:3)", "  at f (<string>:2)"]
    code, _, err = ilusm("-e", "prn (")
    assert code == 65 and err.startswith("<string>:1:5: syntax error: ")


def test_eval_uses_modules_from_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "m.ilu", "half(x) = x / 2\n")
    assert ilusm("-e", 'use "m.ilu"\nprn half(8)') == (0, "4\n", "")


def test_eval_dump_ast() -> None:
    code, out, _ = ilusm("run", "--dump-ast", "-e", "prn 1")
    assert code == 0 and out.startswith("(Program @1:1")


def test_stdin_program(tmp_path: Path) -> None:
    code, out, err = ilusm("run", "-", "x", input="prn __sys_args()\nprn 1 / 0\n")
    assert (code, out) == (70, '["x"]\n')
    assert err.splitlines() == ["error: division by zero", "  at <module> (<stdin>:2)"]
    code, _, err = ilusm("-", input="prn (\n")
    assert code == 65 and err.startswith("<stdin>:1:5: syntax error: ")


def test_stdin_program_in_a_process(tmp_path: Path) -> None:
    """Real standard input, as bytes: a program, and bytes that are not UTF-8."""
    import subprocess
    import sys

    cmd = [sys.executable, "-m", "stage0", "run", "-"]
    r = subprocess.run(cmd, input=b'prn "h\xc3\xa9"\n', capture_output=True, cwd=ROOT, timeout=120)
    assert (r.returncode, r.stdout, r.stderr) == (0, "hé\n".encode(), b"")
    r = subprocess.run(cmd, input=b'prn "\xff"\n', capture_output=True, cwd=ROOT, timeout=120)
    assert r.returncode == 65 and r.stderr == b"<stdin>:1:6: syntax error: invalid UTF-8 (byte 0xff)\n"


def test_help_lists_the_forms() -> None:
    code, out, _ = ilusm("--help")
    assert code == 0
    for form in ("ilusm hello.ilu", "ilusm ./run", "ilusm run - <", "ilusm -e", "--engine ref", "--trace"):
        assert form in out, form
    code, out, _ = ilusm("run", "--help")
    assert code == 0 and "-e, --eval CODE" in out and "standard input" in out and "byte offset" in out


# ---- `--trace` numbers instructions as `dis` does -------------------------------------------


def test_trace_offsets_line_up_with_dis(tmp_path: Path) -> None:
    p = write(tmp_path / "loop.ilu", "i = 0\nwhl i < 2: i += 1\nf(x) = x + 1\nprn f(i)\n")
    _, listing, _ = ilusm("dis", p)
    code, out, err = ilusm("run", "--trace", p)
    assert (code, out) == (0, "3\n")
    dis = {(fn, line.split()[0]): line.split()[1:] for fn, line in _dis_instructions(listing)}
    traced = [line.split() for line in err.splitlines()]
    assert len(traced) > 20
    for fn, off, name, *rest in traced:
        shown = dis[(fn, off)]
        assert shown[0] == name
        if shown[1:2] == ["->"]:  # a jump: the same target as `dis` gives
            assert rest[:2] == shown[1:3]
    assert sum(t[2] == "JUMP" for t in traced) == 2


def _dis_instructions(listing: str) -> list[tuple[str, str]]:
    """(function name, instruction line) for each instruction of a `dis` listing."""
    fn, out = "", []
    for line in listing.splitlines():
        if line.startswith("fn "):
            fn = line.split()[1].split("/")[0]
        elif line[:4].isdigit():
            out.append((fn, line))
    return out


# ---- one convention for file names in compile errors and traces -----------------------------


@pytest.fixture
def nested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sub/prog.ilu using sub/lib/m.ilu (a runtime error) and sub/bad.ilu using sub/lib/b.ilu (a syntax error)."""
    write(tmp_path / "sub" / "prog.ilu", 'use "lib/m.ilu"\nprn 1 + g(1)\n')
    write(tmp_path / "sub" / "lib" / "m.ilu", "g(x) =\n    x / 0\n")
    write(tmp_path / "sub" / "bad.ilu", 'use "lib/b.ilu"\n')
    write(tmp_path / "sub" / "lib" / "b.ilu", "h(x) = (\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("compiler", ["self", "seed"])
@pytest.mark.parametrize("engine", ENGINES)
def test_runtime_error_in_used_module_from_parent(nested: Path, compiler: str, engine: str) -> None:
    code, _, err = ilusm("run", "--compiler", compiler, "--engine", engine, "sub/prog.ilu")
    assert code == 70
    assert err.splitlines() == ["error: division by zero", "  at <module> (sub/prog.ilu:2)",
                                "  at g (sub/lib/m.ilu:2)"]


@pytest.mark.parametrize("compiler", ["self", "seed"])
def test_compile_error_in_used_module_from_parent(nested: Path, compiler: str) -> None:
    code, _, err = ilusm("run", "--compiler", compiler, "sub/bad.ilu")
    assert code == 65 and err.startswith("sub/lib/b.ilu:1:8: syntax error: ")


def test_names_from_inside_the_folder(nested: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(nested / "sub")
    _, _, err = ilusm("run", "../sub/prog.ilu")
    assert err.splitlines()[1:] == ["  at <module> (prog.ilu:2)", "  at g (lib/m.ilu:2)"]
    assert ilusm("run", "bad.ilu")[2].startswith("lib/b.ilu:1:8: ")


def test_image_keeps_recorded_names(nested: Path) -> None:
    """An image does not know where its sources were: names stay as recorded (deterministic)."""
    assert ilusm("compile", "sub/prog.ilu", "-o", "p.ilbc")[0] == 0
    _, _, err = ilusm("run", "p.ilbc")
    assert err.splitlines()[1:] == ["  at <module> (prog.ilu:2)", "  at g (lib/m.ilu:2)"]


def test_library_names_stay_short(tmp_path: Path) -> None:
    p = write(tmp_path / "p.ilu", "use trl\nprn trl.take([1], 1.5)\n")
    _, _, err = ilusm("run", p)
    assert "(lib/stdlib/trl.ilu:" in err


def test_module_above_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A module outside the working folder is named by its absolute path in both kinds of error."""
    write(tmp_path / "a" / "p.ilu", 'use "../up.ilu"\nprn u()\n')
    write(tmp_path / "a" / "q.ilu", 'use "../bad.ilu"\n')
    write(tmp_path / "up.ilu", "u() = 1 / 0\n")
    write(tmp_path / "bad.ilu", "u() = (\n")
    monkeypatch.chdir(tmp_path / "a")
    real = (tmp_path).resolve()
    assert ilusm("run", "--fs-root", "..", "p.ilu")[2].splitlines()[2] == f"  at u ({real / 'up.ilu'}:1)"
    assert ilusm("run", "--fs-root", "..", "q.ilu")[2].startswith(f"{real / 'bad.ilu'}:1:7: ")
    # without --fs-root the module lies outside the program's file root: a compile error
    assert "module '../up.ilu' is outside the sandbox" in ilusm("p.ilu")[2]


def test_trace_runs_on_the_reference_interpreter(tmp_path: Path) -> None:
    p = write(tmp_path / "p.ilu", "prn 1 + 2\n")
    assert ilusm("run", "--trace", "--engine", "ref", p)[:2] == (0, "3\n")
    code, out, err = ilusm("run", "--trace", "--engine", "fast", p)
    assert (code, out) == (2, "")
    assert err == "error: --trace runs on the reference interpreter; it cannot be used with --engine fast\n"


def test_unreadable_stdin_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from stage0.toolchain import programs as cli

    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # noqa: ARG002
            raise OSError(5, "Input/output error")

    monkeypatch.setattr(cli.sys, "stdin", io.TextIOWrapper(io.BufferedReader(Broken())))
    with pytest.raises(cli.UsageError, match="cannot read standard input: Input/output error"):
        cli.read_stdin()


def test_trace_shows_operands_as_dis_does(tmp_path: Path) -> None:
    # A constant longer than the stack column's cut, and a global name: both exactly as `dis` prints them.
    p = write(tmp_path / "c.ilu", 'greeting = "a constant well past twenty-four characters"\nprn greeting\n')
    _, listing, _ = ilusm("dis", p)
    code, out, err = ilusm("run", "--trace", p)
    assert (code, out) == (0, "a constant well past twenty-four characters\n")
    dis = {line.split(None, 1)[0]: " ".join(line.split()[1:]) for _, line in _dis_instructions(listing)}
    traced = [line.split(None, 2) for line in err.splitlines()]
    for _, off, rest in traced:
        assert rest.rsplit(" [", 1)[0].strip() == dis[off]
    assert any('"a constant well past twenty-four characters"' in t[2] for t in traced)
