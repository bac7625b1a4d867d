"""`ilusm repl`: line editing and history on a pseudo-terminal, piped sessions, entries and constants.

The terminal tests drive a real process through the stdlib `pty` module
(keys as the bytes a terminal sends); they skip when the platform has no
pseudo-terminals or Python has no readline.
"""
from __future__ import annotations

import fcntl
import io
import os
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stage0.cli.commands import cli
from stage0.cli.proc import guarded
from stage0.cli.repl import Repl, needs_more
from tests.cli_util import ilusm

ROOT = Path(__file__).resolve().parent.parent
LEFT, RIGHT, UP = b"\x1b[D", b"\x1b[C", b"\x1b[A"
CTRL_C, CTRL_D = b"\x03", b"\x04"
WAIT = 60.0  # seconds; generous, the machine may be busy


def _pty_available() -> str:
    """Why the terminal tests cannot run here ("" when they can)."""
    try:
        import readline  # noqa: F401
    except ImportError:
        return "Python has no readline module"
    try:
        master, slave = os.openpty()
    except (AttributeError, OSError) as e:
        return f"no pseudo-terminal: {e}"
    os.close(master)
    os.close(slave)
    return ""


NO_PTY = _pty_available()
needs_pty = pytest.mark.skipif(bool(NO_PTY), reason=NO_PTY or "pty available")


def _controlling_terminal() -> None:
    """In the child, after setsid: make stdin (the pty) its terminal, so Ctrl-C sends SIGINT.

    SIGINT may be ignored where the tests run (a background job); Python
    only handles it when it starts out with the default action.
    """
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Terminal:
    """`ilusm repl` on a pseudo-terminal: type keys, wait for what the screen shows."""

    def __init__(self, home: Path) -> None:
        self.master, slave = os.openpty()
        env = dict(os.environ, HOME=str(home), TERM="xterm", INPUTRC=os.devnull, PYTHONPATH=str(ROOT))
        self.proc = subprocess.Popen([sys.executable, "-m", "stage0", "repl"], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=home, env=env, start_new_session=True,
                                     preexec_fn=_controlling_terminal)
        os.close(slave)
        self.seen = b""  # everything shown so far
        self.pos = 0  # how far `expect` has matched

    def type(self, keys: bytes) -> None:
        """Send keys as typed."""
        os.write(self.master, keys)

    def expect(self, pattern: bytes, wait: float = WAIT) -> None:
        """Wait until the screen shows pattern (a regex) after the last match."""
        if not self.shows(pattern, wait):
            raise AssertionError(f"never saw {pattern!r}; screen: {self.seen!r}")

    def shows(self, pattern: bytes, wait: float) -> bool:
        """Does the screen show pattern after the last match within `wait` seconds? (moves past it)"""
        deadline = time.monotonic() + wait
        while True:
            m = re.compile(pattern).search(self.seen, self.pos)
            if m:
                self.pos = m.end()
                return True
            if time.monotonic() > deadline or not self._read(deadline):
                return False

    def _read(self, deadline: float) -> bool:
        """Read what is there (waiting until deadline); False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], max(deadline - time.monotonic(), 0))
        if ready:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # the process ended and closed the terminal
                return False
            self.seen += data
            return bool(data)
        return True

    def finish(self) -> int:
        """End the session with Ctrl-D at the prompt; the exit status."""
        self.type(CTRL_D)
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and self._read(deadline):
            pass
        return self.proc.wait(timeout=WAIT)

    def close(self) -> None:
        """Stop the process if a test failed half-way."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


@pytest.fixture
def term(tmp_path: Path):
    t = Terminal(tmp_path)
    t.expect(rb"ilusm> ")
    yield t
    t.close()


def run_line(term: Terminal, keys: bytes, shows: bytes) -> None:
    """Type an entry's keys and Enter; wait for its output line and the next prompt."""
    term.type(keys + b"\r")
    term.expect(rb"\r\n" + shows + rb"\r\n")
    term.expect(rb"ilusm> ")


@needs_pty
def test_arrow_keys_edit_the_line(term: Terminal) -> None:
    # `prn 1 + 2`, four times Left puts the cursor after the 1; typing 0 gives `prn 10 + 2`.
    run_line(term, b"prn 1 + 2" + LEFT * 4 + b"0", rb"12")
    assert b"^[[" not in term.seen
    assert term.finish() == 0


@needs_pty
def test_up_arrow_recalls_the_previous_entry(term: Terminal) -> None:
    run_line(term, b"prn 5 + 2", rb"7")
    run_line(term, b"prn 100", rb"100")
    run_line(term, UP + b" * 3", rb"300")  # `prn 100 * 3`
    run_line(term, UP * 3 + b" * 3", rb"11")  # `prn 5 + 2 * 3`
    assert term.finish() == 0


@needs_pty
def test_a_terminal_session_goes_on_after_errors(term: Terminal) -> None:
    term.type(b"1 / 0\r")
    term.expect(rb"error: division by zero")
    term.expect(rb"ilusm> ")
    term.type(b"prn (\r\r")  # a syntax error: the session goes on
    term.expect(rb"syntax error")
    run_line(term, b'prn "after"', rb"after")
    assert term.finish() == 0


@needs_pty
def test_a_one_line_if_waits_for_its_other_branches(term: Terminal) -> None:
    term.type(b"x = 0\r")
    term.expect(rb"ilusm> ")
    term.type(b'if x > 1: prn "big"\r')
    term.expect(rb"  \.\.\.> ")
    term.type(b'| prn "small"\r')
    term.expect(rb"  \.\.\.> ")
    term.type(b"\r")
    term.expect(rb"\r\nsmall\r\nilusm> ")
    assert b"big\r\n" not in term.seen
    assert term.finish() == 0


@needs_pty
def test_ctrl_c_at_the_prompt_abandons_the_line(term: Terminal) -> None:
    term.type(b"prn 1 +")
    term.expect(rb"prn 1 \+")  # read by readline (a Ctrl-C in the same write would discard it first)
    # On a loaded machine readline may not have the terminal yet when the key
    # arrives (the kernel echoes the text, then the signal is lost): press again.
    for _ in range(5):
        term.type(CTRL_C)
        if term.shows(rb"interrupted; Ctrl-D quits", 10):
            break
    else:
        raise AssertionError(f"Ctrl-C never answered; screen: {term.seen!r}")
    term.expect(rb"ilusm> ")
    run_line(term, b"prn 4", rb"4")
    assert term.finish() == 0


# ---- piped input: no prompts, the first failure ends the session ----------------------------

def test_piped_input_shows_values_without_prompts() -> None:
    assert ilusm("repl", input='prn 1\n1 + 2\n"s"\nx = 4\n') == (0, '1\n3\n"s"\n', "")


@pytest.mark.parametrize("session, code, out, err", [
    ('prn 1\nerr("x")\nprn 2\n', 70, "1\n", "error: x\n  at <module> (<repl>.ilu:1)\n"),
    ("prn 1\nprn (\n\nprn 2\n", 65, "1\n",
     "<repl>.ilu:1:5: syntax error: unclosed '('\n    prn (\n        ^\n"),
    ("prn 1\nbrk\nprn 2\n", 65, "1\n", "<repl>.ilu:1:1: error: brk outside a loop\n    brk\n    ^\n"),
])
def test_piped_input_stops_at_the_first_failure(session: str, code: int, out: str, err: str) -> None:
    assert ilusm("repl", input=session) == (code, out, err)


@pytest.mark.parametrize("x, shown", [(5, "big\n"), (0, "small\n")])
def test_if_continues_on_bar_lines(x: int, shown: str) -> None:
    session = f'x = {x}\nif x > 1: prn "big"\n| prn "small"\n\nprn "next"\n'
    assert ilusm("repl", input=session) == (0, shown + "next\n", "")


def test_if_with_else_if_lines() -> None:
    session = 'x = 0\nif x < 0: prn "neg"\n| if x == 0: prn "zero"\n| prn "pos"\n'
    assert ilusm("repl", input=session) == (0, "zero\n", "")


@pytest.mark.parametrize("text, more", [
    ('if x > 1: prn "big"', True),             # `| ...` lines may follow
    ('if x > 1: prn "big"\n| prn "small"', True),
    ("iffy = 1", False),
    ('x = if c: 1 | 2', False),               # the expression form is whole on its line
    ('prn "if"', False),
])
def test_an_if_entry_ends_at_a_blank_line(text: str, more: bool) -> None:
    assert needs_more(text) is more


# ---- def constants across entries -----------------------------------------------------------

@pytest.mark.parametrize("later", ["K = 2", "K += 1", "def K = 2", "K <- [1]: 0", "K() = 1",
                                   "if 1: K = 2", "use K"])
def test_a_def_constant_stays_constant_in_later_entries(later: str) -> None:
    code, out, err = ilusm("repl", input=f"def K = 1\nK\n{later}\nprn 9\n")
    assert (code, out) == (65, "1\n")
    assert err.startswith("<repl>.ilu:1:") and "error: cannot assign to constant 'K'\n" in err


def test_the_constant_error_is_the_one_a_file_gives(tmp_path: Path) -> None:
    path = tmp_path / "k.ilu"
    path.write_text("def K = 1\nK = 2\n")
    _, _, in_file = ilusm("run", "--compiler", "seed", str(path))
    _, _, in_repl = ilusm("repl", input="def K = 1\nK = 2\n")
    assert in_file.replace(f"{path}:2:", "<repl>.ilu:1:") == in_repl


def test_a_function_may_still_have_a_local_of_that_name() -> None:
    assert ilusm("repl", input="def K = 1\nf() =\n    K = 2\n    K\n\nf()\nK\n") == (0, "2\n1\n", "")


def test_a_def_that_failed_may_be_typed_again() -> None:
    repl = Repl(1000, interactive=False)
    assert guarded(lambda: repl.eval("def K = 1 / 0"), err=io.StringIO()) == 70
    assert guarded(lambda: repl.eval("def K = 2")) == 0
    assert guarded(lambda: repl.eval("K = 3"), err=io.StringIO()) == 65
    assert repl.globals["K"] == 2


# ---- input encoding -------------------------------------------------------------------------

def test_entries_are_utf8_whatever_the_locale(tmp_path: Path) -> None:
    env = dict(os.environ, PYTHONIOENCODING="ascii", LC_ALL="C", LANG="C", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "stage0", "repl"], input='prn "é😀"\n'.encode(),
                       capture_output=True, cwd=tmp_path, env=env, timeout=WAIT)
    assert (p.returncode, p.stdout, p.stderr) == (0, "é😀\n".encode(), b"")


def test_an_entry_that_is_not_utf8_is_a_compile_error() -> None:
    result = CliRunner().invoke(cli, ["repl"], input=b'prn 1\nprn "\xff"\nprn 2\n')
    assert (result.exit_code, result.stdout, result.stderr) == (
        65, "1\n", "<repl>.ilu:1:6: error: entry is not valid UTF-8\n")
