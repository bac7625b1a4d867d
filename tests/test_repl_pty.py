"""The REPL through a pseudo-terminal, as a person uses it: prompts, container results with
their type, Tab completion of names and module members, `:` commands, history kept across
sessions in the file ILUSM_HISTORY names (the user's data folder by default)."""
from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs a Linux pseudo-terminal")


class Terminal:
    """`ilusm repl` on a pseudo-terminal."""

    def __init__(self, tmp: Path) -> None:
        (tmp / "inputrc").write_text("set enable-bracketed-paste off\nset bell-style none\n")
        env = dict(os.environ, ILUSM_HISTORY=str(tmp / "history"), INPUTRC=str(tmp / "inputrc"), TERM="xterm")
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([sys.executable, "-m", "stage0", "repl"], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=tmp, env=env, close_fds=True)
        os.close(slave)
        self.seen = ""

    def until(self, text: str, timeout: float = 60) -> str:
        """Read until text appears; what came before it (and it)."""
        end = time.monotonic() + timeout
        while text not in self.seen:
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {text!r} in {self.seen[-500:]!r}")
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096).decode("utf-8", "replace")
                except OSError:
                    break
        head, _, self.seen = self.seen.partition(text)
        return head + text

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def entry(self, line: str) -> str:
        """Type a line and give what it printed before the next prompt."""
        self.send(line + "\r")
        return self.until("ilusm> ")

    def close(self) -> None:
        self.proc.wait(timeout=60)
        os.close(self.master)


def test_a_session(tmp_path: Path) -> None:
    t = Terminal(tmp_path)
    try:
        t.until("ilusm> ")
        t.entry("x = [1, 2]")
        assert "[1, 2]    (lst, 2 items)" in t.entry("x")
        assert "{a: 1}    (obj, 1 item)" in t.entry("{a: 1}")
        assert '"hi"' in t.entry('"hi"')
        t.send("pr\t")                       # completes the builtin prn
        assert "7" in t.entry("7")
        t.entry("use txt")
        t.send("txt.up\t")                   # completes a module member
        assert "ABC" in t.entry('("abc")')
        assert ":ast EXPR" in t.entry(":help")
        assert "ms)" in t.entry(":time 1 + 1")
        assert "PUSH_CONST" in t.entry(":dis 40 + 2")
        assert "undefined name 'nope'" in t.entry("nope")   # errors do not end the session
        assert "(the session is empty)" in t.entry(":reset")
        t.send(":quit\r")
        t.close()
        assert t.proc.returncode == 0
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
    history = (tmp_path / "history").read_text()
    assert "x = [1, 2]" in history and ":time 1 + 1" in history


def test_history_survives_the_session(tmp_path: Path) -> None:
    (tmp_path / "history").write_text("y = 41 + 1\n")
    t = Terminal(tmp_path)
    try:
        t.until("ilusm> ")
        t.send("\x1b[A")                     # up arrow: the line from the earlier session
        t.entry("")
        assert "42" in t.entry("y")
        t.send("\x04")                       # Ctrl-D ends the session
        t.close()
    finally:
        if t.proc.poll() is None:
            t.proc.kill()
