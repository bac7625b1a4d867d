"""Process plumbing of the `ilusm` command: the big-stack worker thread, Ctrl-C,
the one place errors become exit statuses, and a checked UTF-8 standard output.

A Python traceback reaching a user is a bug; `guarded` turns any that escapes
into a one-line internal error.
"""
from __future__ import annotations

import ctypes
import io
import os
import sys
import threading
from typing import Any, Callable, Optional, TextIO

from stage0.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, IlusmError, OutputError

STACK_BYTES = 512 * 1024 * 1024
# Python frames the big stack holds while compiling: a 1,000,000-term `1+1+...`
# chain compiles with either compiler (the user program's limit is set later).
COMPILE_RECURSION = 4_000_000


def in_big_stack(fn: Callable[[], int]) -> int:
    """Run fn in a thread with a large C stack, so deep host recursion cannot crash.

    Ctrl-C reaches the main thread, which passes it on to the worker as a
    KeyboardInterrupt (`guarded` turns that into exit 130); a second Ctrl-C
    quits at once.
    """
    result: list[Any] = [EXIT_RUNTIME]
    done = threading.Event()

    def target() -> None:
        try:
            result[0] = guarded(fn)
        finally:
            done.set()

    sys.setrecursionlimit(max(sys.getrecursionlimit(), COMPILE_RECURSION))
    old = threading.stack_size(STACK_BYTES)
    try:
        t = threading.Thread(target=target, name="ilusm", daemon=True)
        t.start()
    finally:
        threading.stack_size(old)
    # Wait on an Event, not Thread.join: on Python 3.11 a Ctrl-C inside join()
    # marks the still-running thread as stopped (bpo-45274's handler).
    try:
        done.wait()
    except KeyboardInterrupt:
        interrupt(t)
        try:
            done.wait()
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
    return int(result[0])


def interrupt(t: threading.Thread) -> None:
    """Raise KeyboardInterrupt in thread t at its next Python instruction."""
    if t.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(KeyboardInterrupt))


def guarded(fn: Callable[[], int], err: Optional[TextIO] = None) -> int:
    """Call fn, printing IlusmErrors in the contract's format; returns the exit status."""
    err = err or sys.stderr
    try:
        return fn()
    except IlusmError as e:
        flush_quietly()
        print(e.render(), file=err)
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`ilusm run p.ilu | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        return 141
    except Exception as e:  # a host bug: still no traceback for the user
        print(f"error: internal error: {type(e).__name__}: {e}", file=err)
        return EXIT_RUNTIME


def flush_quietly() -> None:
    """Flush standard output before an error message; a failure here is not news."""
    try:
        sys.stdout.flush()
    except (IlusmError, OSError):
        pass


class CheckedOut(io.TextIOBase):
    """Standard output, always UTF-8, whose write failures are OutputErrors.

    A full disk or a closed descriptor then ends the program with one line
    and exit 70; a reader that went away still raises BrokenPipeError, which
    `guarded` turns into a quiet exit.
    """

    def __init__(self, stream: Optional[TextIO]) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        """Write text, or raise OutputError."""
        return self._do(lambda s: s.write(text))

    def flush(self) -> None:
        """Flush, or raise OutputError (a closed stream has nothing to flush)."""
        if self.stream is not None:
            self._do(lambda s: s.flush())

    def close(self) -> None:
        """Nothing to release; a failed final flush was already reported."""

    def writable(self) -> bool:
        """Always: failures show at write time."""
        return True

    @property
    def encoding(self) -> Optional[str]:  # type: ignore[override]
        """The real stream's encoding (UTF-8 after `utf8_streams`).

        `input()` uses readline (line editing, history) only when standard
        output reports a text encoding; TextIOBase's own is None.
        """
        return getattr(self.stream, "encoding", None)

    @property
    def errors(self) -> Optional[str]:  # type: ignore[override]
        """The real stream's error handler, which `input()` also needs."""
        return getattr(self.stream, "errors", None)

    def isatty(self) -> bool:
        """Whether the real stream is a terminal."""
        return self.stream is not None and self.stream.isatty()

    def fileno(self) -> int:
        """The real stream's descriptor."""
        if self.stream is None:
            raise OSError("standard output is closed")
        return self.stream.fileno()

    def _do(self, op: Callable[[TextIO], Any]) -> Any:
        if self.stream is None:
            raise OutputError("it is closed")
        try:
            return op(self.stream)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None


def utf8_streams() -> None:
    """Make standard output and error UTF-8 whatever the locale (output is deterministic)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper):
            # surrogateescape: a file name or argument that was not UTF-8 prints as its own bytes.
            stream.reconfigure(encoding="utf-8", errors="backslashreplace" if name == "stderr" else "surrogateescape")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    sys.stdout = CheckedOut(sys.stdout)
