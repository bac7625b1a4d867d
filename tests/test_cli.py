"""The `ilusm` command: exit codes, error formats, dump flags, compile/dis, repl.

Most tests run the click command in-process; a few start real processes
where the environment itself is under test (determinism across folders,
time zones, locales and hash seeds; `python -m stage0`).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_util import ilusm

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def prog(tmp_path: Path):
    """Write a program and return its path."""

    def write(text: str, name: str = "p.ilu") -> str:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_version_and_help() -> None:
    code, out, _ = ilusm("--version")
    assert code == 0 and "ilusm" in out and "0.1.0" in out
    code, out, _ = ilusm("--help")
    assert code == 0 and "Examples:" in out and "ilusm run hello.ilu" in out


def test_run_prints_and_exits_zero(prog) -> None:
    assert ilusm("run", prog('prn "hi", 1 + 2\n')) == (0, "hi 3\n", "")


def test_program_arguments_reach_the_program(prog) -> None:
    code, out, _ = ilusm("run", prog("prn __sys_args()\n"), "a", "-x", "--flag")
    assert code == 0 and out == '["a", "-x", "--flag"]\n'


def test_syntax_error_format(prog) -> None:
    path = prog('prn "never"\nx = 1 +* 2\n')
    code, out, err = ilusm("run", path)
    assert code == 65 and out == ""
    first, src, caret = err.splitlines()[:3]
    assert first.endswith("p.ilu:2:8: syntax error: unexpected '*'")
    assert src.strip() == "x = 1 +* 2" and caret.strip() == "^"
    assert caret.index("^") - src.index("x") == 7


def test_compile_error_kind_error(prog) -> None:
    code, _, err = ilusm("run", prog("def K = 1\nK = 2\n"))
    assert code == 65 and ":2:1: error: cannot assign to constant 'K'" in err


def test_runtime_error_trace(prog) -> None:
    p = prog('prn "before"\nf(x) = x / 0\ng() = 1 + f(1)\ng()\n')
    code, out, err = ilusm("run", p)
    assert code == 70 and out == "before\n"
    # The file is named as given (here absolute: it is not below the working folder).
    assert err.splitlines() == ["error: division by zero", f"  at <module> ({p}:4)",
                                f"  at g ({p}:3)", f"  at f ({p}:2)"]


def test_usage_errors_exit_2(prog) -> None:
    assert ilusm("run", "/no/such/file.ilu")[0] == 2
    assert ilusm("frobnicate")[0] == 2
    assert ilusm("run", prog("prn 1\n"), "--compiler", "nope")[0] == 0  # after FILE: a program argument
    assert ilusm("run", "--compiler", "nope", prog("prn 1\n"))[0] == 2
    assert ilusm("compile", prog("prn 1\n"))[0] == 2  # -o is required


def test_max_depth_option(prog) -> None:
    src = "down(n) = if n == 0: 0 | 1 + down(n - 1)\nprn try(\\() down(500)).err\nprn down(50)\n"
    code, out, _ = ilusm("run", "--max-depth", "100", prog(src))
    assert code == 0 and out == "stack overflow\n50\n"


def test_compile_then_run_image(prog, tmp_path: Path) -> None:
    src = prog("use trl\nprn trl.map([1, 2], \\(x) x * 10)\n")
    out_path = str(tmp_path / "p.ilbc")
    assert ilusm("compile", src, "-o", out_path)[0] == 0
    assert Path(out_path).read_bytes()[:4] == b"ILBC"
    assert ilusm("run", out_path) == (0, "[10, 20]\n", "")


def test_compile_does_not_overwrite_user_files(prog, tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("precious")
    code, _, err = ilusm("compile", prog("prn 1\n"), "-o", str(keep))
    assert code == 2 and "refusing to overwrite" in err and keep.read_text() == "precious"
    assert ilusm("compile", prog("prn 1\n"), "-o", str(keep), "--force")[0] == 0


def test_compile_error_writes_nothing(prog, tmp_path: Path) -> None:
    out_path = tmp_path / "bad.ilbc"
    assert ilusm("compile", prog("x = (\n"), "-o", str(out_path))[0] == 65
    assert not out_path.exists()


def test_corrupt_image_is_one_line_exit_1(prog, tmp_path: Path) -> None:
    img = tmp_path / "p.ilbc"
    ilusm("compile", prog("prn 1\n"), "-o", str(img))
    data = bytearray(img.read_bytes())
    data[-3] ^= 0xFF
    img.write_bytes(bytes(data))
    code, out, err = ilusm("run", str(img))
    assert code == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("error: bad image:")
    img.write_bytes(bytes(data[:10]))
    assert ilusm("run", str(img))[0] == 1


def test_dis_source_and_image(prog, tmp_path: Path) -> None:
    src = prog("x = 1 + 2\nprn x\n")
    code, out, _ = ilusm("dis", src)
    assert code == 0 and "PUSH_CONST" in out and "STORE_GLOBAL" in out and "x = 1 + 2" in out
    img = str(tmp_path / "p.ilbc")
    ilusm("compile", src, "-o", img)
    code, out2, _ = ilusm("dis", img)
    assert code == 0 and "PUSH_CONST" in out2


def test_dump_flags(prog) -> None:
    path = prog("prn 1 + 2\n")
    code, out, _ = ilusm("run", "--dump-tokens", path)
    assert code == 0 and "IDENT" in out and "NUM" in out
    code, out, _ = ilusm("run", "--dump-ast", path)
    assert code == 0 and "(Call" in out and "(Bin" in out
    code, out, _ = ilusm("run", "--dump-ilbc", path)
    assert code == 0 and "ADD" in out
    code, out, _ = ilusm("run", "--dump-py", prog("f(n) = n + 1\nprn f(2)\n"))
    assert code == 0 and "def f0__module_(clo, d):" in out and "def f1_f(clo, d, l0):" in out
    assert "3" not in out.split()   # nothing ran


def test_trace_flag(prog) -> None:
    code, out, err = ilusm("run", "--trace", prog("prn 1 + 2\n"))
    assert code == 0 and out == "3\n" and "ADD" in err and "RET" in err


def test_repl_session() -> None:
    """Piped input: values shown, no prompts; the first failing entry ends it with exit 70."""
    session = "x = 2\nx * 3\nprn x\nsq(n) =\n    n * n\n\nsq(4)\n1 / 0\n\"after\"\n"
    code, out, err = ilusm("repl", input=session)
    assert (code, out) == (70, "6\n2\n16\n")
    assert err.startswith("error: division by zero\n")


def test_python_dash_m(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "stage0", "--version"], capture_output=True, text=True,
                       cwd=ROOT)
    assert p.returncode == 0 and "0.1.0" in p.stdout


def test_compile_is_deterministic_across_environments(tmp_path: Path) -> None:
    """Same source, two folders, different TZ/LANG/PYTHONHASHSEED: same bytes."""
    src = (ROOT / "tests" / "spec" / "modules").resolve()
    outs = []
    for i, (tz, lang, seed) in enumerate([("UTC", "C.UTF-8", "1"), ("Asia/Tokyo", "de_DE.UTF-8", "4242")]):
        where = tmp_path / f"copy{i}" / "deep" / str(i)
        shutil.copytree(src, where)
        prog_file = sorted(p for p in where.glob("*.ilu") if "use" in p.read_text())[0]
        env = dict(os.environ, TZ=tz, LANG=lang, LC_ALL=lang, PYTHONHASHSEED=seed)
        out = tmp_path / f"out{i}.ilbc"
        subprocess.run([sys.executable, "-m", "stage0", "compile", prog_file.name, "-o", str(out)],
                       cwd=where, env=env, check=True, capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_toolchain_engine_follows_program_size(tmp_path: Path) -> None:
    """Small programs compile on the reference engine (no translation to pay), big ones on the fast tier."""
    from stage0.toolchain.selfhost import FAST_FROM_BYTES, engine_for

    small, big = tmp_path / "small.ilu", tmp_path / "big.ilu"
    small.write_text("prn 1\n")
    big.write_text("x = 1\n" * (FAST_FROM_BYTES // 6 + 1) + "prn x\n")
    assert (engine_for(small), engine_for(big), engine_for(tmp_path / "none.ilu")) == ("ref", "fast", "ref")
    assert ilusm("run", str(big)) == (0, "1\n", "")
    assert ilusm("compile", str(big), "-o", str(tmp_path / "a.ilbc"))[0] == 0
    assert ilusm("compile", "--compiler", "seed", str(big), "-o", str(tmp_path / "b.ilbc"))[0] == 0
    assert (tmp_path / "a.ilbc").read_bytes() == (tmp_path / "b.ilbc").read_bytes()


def test_directories_and_unwritable_outputs_are_usage_errors(prog, tmp_path: Path) -> None:
    """A directory given as a program or as -o, or an -o in a missing folder: one line, exit 2."""
    src = prog("prn 1\n")
    assert ilusm("run", str(tmp_path)) == (2, "", f"error: {tmp_path} is a directory, not a program\n")
    assert ilusm("dis", str(tmp_path))[0] == 2
    code, _, err = ilusm("compile", src, "-o", str(tmp_path / "missing" / "p.ilbc"))
    assert (code, err) == (2, f"error: cannot write {tmp_path / 'missing' / 'p.ilbc'}: No such file or directory\n")
    code, _, err = ilusm("compile", "--force", src, "-o", str(tmp_path))
    assert (code, err) == (2, f"error: cannot write {tmp_path}: it is a directory\n")
    assert not list(tmp_path.glob("*.tmp"))
