"""The `ilusm` command at its edges: odd paths, odd outputs, signals, limits, the REPL's reader.

Each case here was once a traceback, a hang, a destroyed file or a wrong
exit status. Cases that need a real process (signals, closed or full
standard output, the locale, file names that are not UTF-8) start one;
the rest run the click command in-process.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_util import ilusm

from stage0.cli.repl import needs_more

ROOT = Path(__file__).resolve().parent.parent


def process(*args: str, **kw) -> subprocess.CompletedProcess:
    """Run `python -m stage0 ARGS` as a real process, in bytes."""
    return subprocess.run([sys.executable, "-m", "stage0", *args], capture_output=True, timeout=120,
                          cwd=kw.pop("cwd", ROOT), **kw)


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    """A one-line program."""
    path = tmp_path / "hello.ilu"
    path.write_text('prn "hi"\n')
    return path


# ---- outputs that must not be destroyed ------------------------------------------------

def test_output_never_replaces_the_source_even_with_force(hello: Path) -> None:
    code, _, err = ilusm("compile", "--force", str(hello), "-o", str(hello))
    assert (code, err) == (2, f"error: refusing to overwrite {hello}: it is the source file\n")
    assert hello.read_text() == 'prn "hi"\n'


def test_a_users_tmp_file_beside_the_output_survives(hello: Path, tmp_path: Path) -> None:
    notes = tmp_path / "out.ilbc.tmp"
    notes.write_text("my notes")
    assert ilusm("compile", str(hello), "-o", str(tmp_path / "out.ilbc"))[0] == 0
    assert notes.read_text() == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hello.ilu", "out.ilbc", "out.ilbc.tmp"]


def test_output_through_a_symlink_keeps_the_link(hello: Path, tmp_path: Path) -> None:
    real, link = tmp_path / "real.ilbc", tmp_path / "link.ilbc"
    real.write_bytes(b"")
    link.symlink_to(real)
    assert ilusm("compile", "--force", str(hello), "-o", str(link))[0] == 0
    assert link.is_symlink() and real.read_bytes()[:4] == b"ILBC"


def test_output_to_a_device_writes_through_it(hello: Path) -> None:
    """`-o /dev/null` compiles and checks without replacing the device node."""
    assert ilusm("compile", str(hello), "-o", os.devnull)[0] == 0
    assert not Path(os.devnull).is_file()


def test_output_to_a_fifo_does_not_hang_on_the_image_check(hello: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    assert ilusm("compile", str(hello), "-o", str(fifo))[0] == 0
    assert reader.communicate(timeout=30)[0][:4] == b"ILBC"


def test_new_image_gets_the_usual_file_mode(hello: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.ilbc"
    ilusm("compile", str(hello), "-o", str(out))
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask


# ---- inputs ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["run", ""], "error: no file given\n"),
    (["run", "--bogus", "x.ilu"], "error: no such option: --bogus (see --help)\n"),
    (["run", "/dev/null"], "error: /dev/null is not a regular file\n"),
])
def test_odd_program_paths_are_usage_errors(args: list[str], message: str) -> None:
    assert ilusm(*args) == (2, "", message)


def test_dump_flags_need_source(hello: Path, tmp_path: Path) -> None:
    image = tmp_path / "h.ilbc"
    ilusm("compile", str(hello), "-o", str(image))
    assert ilusm("run", "--dump-ast", str(image)) == (
        2, "", f"error: --dump-ast needs a source file; {image} is an ILBC image\n")


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_image_is_a_bad_image(hello: Path, tmp_path: Path) -> None:
    image = tmp_path / "h.ilbc"
    ilusm("compile", str(hello), "-o", str(image))
    image.chmod(0)
    assert ilusm("run", str(image)) == (1, "", f"error: bad image: cannot read {image}: Permission denied\n")


def test_unreadable_image_is_a_bad_image_as_root_too(hello: Path, tmp_path: Path) -> None:
    """The same path without needing a non-root user: the read itself fails."""
    from stage0.errors import ImageError
    from stage0.toolchain.programs import read_image

    with pytest.raises(ImageError, match="cannot read .*: Is a directory"):
        read_image(tmp_path)


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    name = os.fsdecode(b"bad\xffname.ilu")
    (tmp_path / name).write_text("prn 1\n")
    p = process("run", name, cwd=tmp_path)
    assert (p.returncode, p.stderr) == (2, b"error: file name is not valid UTF-8: b'bad\\xffname.ilu'\n")


@pytest.mark.parametrize("compiler", ["self", "seed"])
def test_a_byte_order_mark_is_not_part_of_the_program(tmp_path: Path, compiler: str) -> None:
    path = tmp_path / "bom.ilu"
    path.write_bytes(b'\xef\xbb\xbfprn "ok"\nprn 1 +* 2\n')
    code, out, err = ilusm("run", "--compiler", compiler, str(path))
    assert code == 65 and err.startswith(f"{path}:2:8: syntax error")
    path.write_bytes(b'\xef\xbb\xbfprn "ok"\n')
    assert ilusm("run", "--compiler", compiler, str(path)) == (0, "ok\n", "")


def test_error_echo_shows_tabs_and_control_characters_safely(tmp_path: Path) -> None:
    path = tmp_path / "t.ilu"
    path.write_text('x = "a\tb" +* 2\n')
    err = ilusm("run", str(path))[2]
    assert err.splitlines()[1:] == ['    x = "a\tb" +* 2', "          \t    ^"]
    path.write_bytes(b"prn 1 +\r* 2\n")
    err = ilusm("run", str(path))[2]
    assert "\r" not in err and err.splitlines()[1] == "    prn 1 +\ufffd* 2"


# ---- limits ------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["abc", "-5", "0", " 5", "²", "10000001"])
def test_bad_depth_from_the_environment_is_a_usage_error(hello: Path, raw: str, monkeypatch) -> None:
    monkeypatch.setenv("ILUSM_MAX_DEPTH", raw)
    code, _, err = ilusm("run", str(hello))
    assert code == 2 and err == f"error: ILUSM_MAX_DEPTH must be a whole number from 1 to 10,000,000, not {raw!r}\n"


def test_depth_option_has_an_upper_bound(hello: Path) -> None:
    code, _, err = ilusm("run", "--max-depth", "2147483647", str(hello))
    assert code == 2 and "not in the range 1<=x<=10000000" in err
    assert ilusm("run", "--max-depth", "10000000", str(hello)) == (0, "hi\n", "")


@pytest.mark.parametrize("command", ["run", "compile", "dis"])
@pytest.mark.parametrize("compiler", ["self", "seed"])
def test_long_operator_chains_compile_everywhere(tmp_path: Path, command: str, compiler: str) -> None:
    """10,000 terms recurse that deep in both compilers: every command gives them the big stack."""
    path = tmp_path / "sum.ilu"
    path.write_text("prn " + "+".join(["1"] * 10_000) + "\n")
    extra = ["-o", str(tmp_path / "s.ilbc")] if command == "compile" else []
    code, out, err = ilusm(command, "--compiler", compiler, str(path), *extra)
    assert (code, err) == (0, "")
    assert out == "10000\n" if command == "run" else True


def test_self_compiler_running_out_of_stack_is_a_compile_error(tmp_path: Path) -> None:
    from stage0.errors import CompileError
    from stage0.toolchain.selfhost import Toolchain, toolchain_bytes

    path = tmp_path / "sum.ilu"
    path.write_text("prn " + "+".join(["1"] * 2_000) + "\n")
    with pytest.raises(CompileError) as e:
        Toolchain(toolchain_bytes(), engine="ref", max_depth=500).compile_file(path)
    assert e.value.render() == f"{path}:1:1: error: program nested too deeply to compile"


def test_seed_compiler_running_out_of_stack_is_a_compile_error(tmp_path: Path) -> None:
    from stage0.errors import CompileError
    from stage0.seedc.driver import compile_file

    path = tmp_path / "sum.ilu"
    path.write_text("prn " + "+".join(["1"] * 5_000) + "\n")
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(2_000)
    try:
        with pytest.raises(CompileError, match="program nested too deeply to compile"):
            compile_file(path)
    finally:
        sys.setrecursionlimit(old)


def test_dump_ast_of_a_deep_tree_is_linear(tmp_path: Path) -> None:
    from stage0.seedc.parser import parse
    from stage0.syntax import dump

    tree = parse("prn " + "+".join(["1"] * 1_000) + "\n", "d.ilu")
    start = time.perf_counter()
    text = dump(tree)
    assert text.count("(Num") == 1_000 and text.count("(") == text.count(")")
    assert time.perf_counter() - start < 30  # was minutes: the old printer re-joined every level


# ---- standard output and signals ---------------------------------------------------------

def test_full_disk_is_one_line_not_a_traceback(hello: Path) -> None:
    for args in (["run", str(hello)], ["--help"], ["dis", str(hello)]):
        with open("/dev/full", "w") as full:
            p = subprocess.run([sys.executable, "-m", "stage0", *args], stdout=full, stderr=subprocess.PIPE,
                               cwd=ROOT, timeout=120)
        assert (p.returncode, p.stderr) == (70, b"error: cannot write to standard output: No space left on device\n")


def test_closed_stdout_is_one_line_not_a_traceback(hello: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "stage0", "run", str(hello)], stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, cwd=ROOT, timeout=120, preexec_fn=lambda: os.close(1))
    assert (p.returncode, p.stderr) == (70, b"error: cannot write to standard output: it is closed\n")


def test_output_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    path = tmp_path / "u.ilu"
    path.write_text('prn "é😀"\n', encoding="utf-8")
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C", LANG="C")
    p = process("run", str(path), env=env)
    assert (p.returncode, p.stdout) == (0, "é😀\n".encode())


def _interrupt(args: list[str], stdin_text: str | None = None) -> subprocess.Popen:
    """Start ilusm, wait for its first output line, send SIGINT; the process handle."""
    p = subprocess.Popen([sys.executable, "-m", "stage0", *args], cwd=ROOT, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    if stdin_text is not None:
        p.stdin.write(stdin_text)
        p.stdin.flush()
    p.stdout.readline()
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    return p


@pytest.mark.parametrize("engine", ["fast", "ref"])
def test_ctrl_c_stops_a_program_with_exit_130(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "loop.ilu"
    path.write_text('spin() =\n    whl 1: 0\nprn "started"\nr = try(spin)\nprn "try must not catch it"\n')
    p = _interrupt(["run", "--engine", engine, str(path)])
    out, err = p.communicate(timeout=60)
    assert (p.returncode, out, err) == (130, "", "error: interrupted\n")


def test_ctrl_c_in_the_repl_returns_to_the_prompt() -> None:
    p = _interrupt(["repl"], 'prn "go"\nwhl 1: 0\n')
    time.sleep(0.3)
    out, err = p.communicate('prn "still here"\n', timeout=60)
    assert p.returncode == 0 and "still here" in out and err == "error: interrupted\n"


# ---- the REPL's reader -------------------------------------------------------------------

@pytest.mark.parametrize("text, more", [
    ("x = 1", False),
    ("f(n) =", True),
    ("f(n) =\n    x = n + 1", True),              # a block ends only at a blank line
    ("if 1:\n    prn 1\n    prn 2", True),
    ("xs = [1,", True),
    ("xs = [1,\n2]", False),
    ('prn "("', False),                        # brackets in strings do not count
    ("prn 7 # note:", False),                  # nor colons in comments
    ("prn 'a:'", False),
    ('s = "\\"("', False),
])
def test_repl_knows_when_an_entry_is_finished(text: str, more: bool) -> None:
    assert needs_more(text) is more


def test_repl_multi_line_blocks_and_modules_run_once(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "side.ilu").write_text('prn "loading"\ncount = 1\n')
    monkeypatch.chdir(tmp_path)
    session = "f(n) =\n    x = n + 1\n    x * 2\n\nf(3)\nuse side\nuse side\nside.count\n"
    code, out, err = ilusm("repl", input=session)
    assert (code, err) == (0, "")
    assert out.count("loading") == 1 and "8\n" in out and "1\n" in out


@pytest.mark.parametrize("compiler", ["self", "seed"])
def test_ilusm_lib_is_read_by_both_compilers(tmp_path: Path, compiler: str, monkeypatch) -> None:
    lib = tmp_path / "mylib"
    (lib / "stdlib").mkdir(parents=True)
    (lib / "stdlib" / "trl.ilu").write_text('name = "fake trl"\n')
    path = tmp_path / "p.ilu"
    path.write_text("use trl\nprn trl.name\n")
    monkeypatch.setenv("ILUSM_LIB", str(lib))
    assert ilusm("run", "--compiler", compiler, str(path)) == (0, "fake trl\n", "")


REENTRY = '''\
f(n) =
    if n == 0: ret "bottom"
    r = try(\\() f(n - 1))
    if r.err != nil: ret r.err
    r.val
prn f(250000)
x = []
y = []
i <- 1..100000:
    x = [x]
    y = [y]
prn x == y, len(str(x))
'''


@pytest.mark.parametrize("engine", ["fast", "ref"])
def test_host_callbacks_nested_past_the_c_stack_are_a_stack_overflow(tmp_path: Path, engine: str) -> None:
    """`try` inside recursion nests host calls on the C stack; --max-depth allowing more must not crash."""
    from stage0.interp.vm import MAX_HOST_REENTRY

    assert MAX_HOST_REENTRY < 250_000
    path = tmp_path / "deep.ilu"
    path.write_text(REENTRY)
    p = process("run", "--engine", engine, "--max-depth", "10000000", str(path))
    assert (p.returncode, p.stdout, p.stderr) == (0, b"stack overflow\ntru 200002\n", b"")


@pytest.mark.parametrize("compiler", ["self", "seed"])
def test_a_nul_in_a_use_path_is_module_not_found(tmp_path: Path, compiler: str) -> None:
    path = tmp_path / "u.ilu"
    path.write_text('use "a\\0b.ilu"\nprn 1\n')
    code, out, err = ilusm("run", "--compiler", compiler, str(path))
    assert (code, out) == (65, "")
    assert err.splitlines()[0] == f"{path}:1:1: error: module 'a\ufffdb.ilu' not found"


def test_arguments_that_are_not_utf8_print_as_their_own_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.ilu"
    path.write_text("a = __sys_args()[0]\nprn a, len(a)\n")
    p = subprocess.run([sys.executable, "-m", "stage0", "run", str(path), b"x\xffy"], capture_output=True,
                       cwd=ROOT, timeout=120)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"x\xffy 3\n", b"")


@pytest.mark.parametrize("compiler", ["self", "seed"])
@pytest.mark.parametrize("use", ['"' + "a" * 256 + '"', "a" * 300, '"' + "a/" * 3000 + 'x.ilu"'])
def test_a_use_name_too_long_for_the_os_is_module_not_found(tmp_path: Path, compiler: str, use: str) -> None:
    """Found by fuzzing the two compilers against each other: the seed raised OSError here."""
    path = tmp_path / "u.ilu"
    path.write_text(f"use {use}\nprn 1\n")
    code, out, err = ilusm("run", "--compiler", compiler, str(path))
    assert (code, out) == (65, "")
    assert err.startswith(f"{path}:1:1: error: module '") and err.splitlines()[0].endswith("' not found")
