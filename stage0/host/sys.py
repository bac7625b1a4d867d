"""The Syscall ABI's file, process and environment builtins (`__sys_*`).

A call that fails on the host side (a missing file, a command that cannot
start) returns the error object `{err: "message"}`; a wrong argument type
raises RuntimeErr. Files are read and written as bytes and text is UTF-8,
so there is no newline translation in either direction.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.caps import confine
from stage0.host.core import utf8, want, want_int
from stage0.host.registry import HostContext, builtin, error_value
from stage0.values import is_num

# ---- helpers shared with the buf domain ------------------------------------------


def failure(verb: str, path: str, e: Exception) -> dict[str, Any]:
    """The error object for a failed host call on `path`."""
    reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
    return error_value(f"cannot {verb} {path}: {reason}")


def read_bytes(ctx: HostContext, path: str) -> bytes | dict[str, Any]:
    """A file's bytes, or an error object (also for a path outside the sandbox)."""
    real = confine(ctx, "read", path)
    if isinstance(real, dict):
        return real
    try:
        with open(real, "rb") as f:
            return f.read()
    except (OSError, ValueError) as e:
        return failure("read", path, e)


def write_bytes(ctx: HostContext, path: str, data: bytes, mode: str = "wb") -> dict[str, Any] | None:
    """Write (mode "wb": replace, "ab": append to) a file; nil or an error object."""
    verb = "append to" if mode == "ab" else "write"
    real = confine(ctx, verb, path)
    if isinstance(real, dict):
        return real
    try:
        with open(real, mode) as f:
            f.write(data)
    except (OSError, ValueError) as e:
        return failure(verb, path, e)
    return None


def utf8_ok(text: str) -> bool:
    """Whether text holds no lone surrogate (so it is Unicode that UTF-8 can write)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def decode(data: bytes) -> str | None:
    """UTF-8 text, or None when the bytes are not valid UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# ---- files ------------------------------------------------------------------------


@builtin("__sys_read_file", 1, cap="fs:ro")
def read_file(ctx: HostContext, path: Any) -> str | dict[str, Any]:
    """A UTF-8 text file's contents, or {err}."""
    data = read_bytes(ctx, want("__sys_read_file", path, "str"))
    if isinstance(data, dict):
        return data
    text = decode(data)
    return error_value(f"file is not valid UTF-8: {path}") if text is None else text


@builtin("__sys_write_file", 2, cap="fs")
def write_file(ctx: HostContext, path: Any, content: Any) -> dict[str, Any] | None:
    """Write a string to a file as UTF-8; nil or {err}."""
    want("__sys_write_file", path, "str")
    data = utf8("__sys_write_file", want("__sys_write_file", content, "str"))
    return write_bytes(ctx, path, data)


@builtin("__sys_append_file", 2, cap="fs")
def append_file(ctx: HostContext, path: Any, content: Any) -> dict[str, Any] | None:
    """Append a string to a file as UTF-8, creating it if needed; nil or {err}."""
    want("__sys_append_file", path, "str")
    data = utf8("__sys_append_file", want("__sys_append_file", content, "str"))
    return write_bytes(ctx, path, data, "ab")


@builtin("__sys_read_dir", 1, cap="fs:ro")
def read_dir(ctx: HostContext, path: Any) -> list[str] | dict[str, Any]:
    """The sorted names in a directory, or {err}."""
    real = confine(ctx, "read directory", want("__sys_read_dir", path, "str"))
    if isinstance(real, dict):
        return real
    try:
        return sorted(os.listdir(real))
    except (OSError, ValueError) as e:
        return failure("read directory", path, e)


@builtin("__sys_stat", 1, cap="fs:ro")
def stat(ctx: HostContext, path: Any) -> bool:
    """Whether a file or directory exists (fls outside the sandbox: it reveals nothing there)."""
    real = confine(ctx, "stat", want("__sys_stat", path, "str"))
    return not isinstance(real, dict) and os.path.exists(real)


@builtin("__sys_is_dir", 1, cap="fs:ro")
def is_dir(ctx: HostContext, path: Any) -> bool:
    """Whether a path is an existing directory (fls outside the sandbox)."""
    real = confine(ctx, "stat", want("__sys_is_dir", path, "str"))
    return not isinstance(real, dict) and os.path.isdir(real)


@builtin("__sys_file_meta", 1, cap="fs:ro")
def file_meta(ctx: HostContext, path: Any) -> dict[str, Any]:
    """`{size, mtime, dir, file, link}` of a path (mtime in seconds since the epoch), or {err}."""
    real = confine(ctx, "stat", want("__sys_file_meta", path, "str"), follow_last=False)
    if isinstance(real, dict):
        return real
    try:
        link = os.path.islink(real)
        st = os.stat(real)
    except (OSError, ValueError) as e:
        return failure("stat", path, e)
    return {"size": st.st_size, "mtime": st.st_mtime, "dir": os.path.isdir(real), "file": os.path.isfile(real),
            "link": link}


@builtin("__sys_realpath", 1, cap="fs:ro")
def realpath(ctx: HostContext, path: Any) -> str | dict[str, Any]:
    """The absolute path with symlinks resolved (the module loader's file identity); {err}
    outside the sandbox.

    A path no file can have (one holding NUL) is only made absolute: nothing exists there.
    """
    want("__sys_realpath", path, "str")
    try:
        os.path.realpath(path)
    except ValueError:
        return os.path.abspath(path)
    return confine(ctx, "resolve", path)


@builtin("__sys_relpath", 2)
def relpath(ctx: HostContext, path: Any, base: Any) -> str | dict[str, Any]:
    """`path` relative to `base`, with `/` separators; {err} for an empty path."""
    want("__sys_relpath", path, "str")
    want("__sys_relpath", base, "str")
    try:
        return os.path.relpath(path, base).replace(os.sep, "/")
    except ValueError as e:
        return error_value(f"cannot relate {path!r} to {base!r}: {e}")


@builtin("__sys_remove", 1, cap="fs")
def remove(ctx: HostContext, path: Any) -> dict[str, Any] | None:
    """Remove a file or an empty directory; nil or {err}."""
    real = confine(ctx, "remove", want("__sys_remove", path, "str"), follow_last=False)
    if isinstance(real, dict):
        return real
    try:
        if os.path.isdir(real) and not os.path.islink(real):
            os.rmdir(real)
        else:
            os.remove(real)
    except (OSError, ValueError) as e:
        return failure("remove", path, e)
    return None


@builtin("__sys_mkdir", 1, cap="fs")
def mkdir(ctx: HostContext, path: Any) -> dict[str, Any] | None:
    """Create a directory and its parents (fine if it exists); nil or {err}."""
    real = confine(ctx, "create directory", want("__sys_mkdir", path, "str"))
    if isinstance(real, dict):
        return real
    try:
        os.makedirs(real, exist_ok=True)
    except (OSError, ValueError) as e:
        return failure("create directory", path, e)
    return None


@builtin("__sys_cwd", 0, cap="fs:ro")
def cwd(ctx: HostContext) -> str | dict[str, Any]:
    """The current working directory, or {err}."""
    try:
        return os.getcwd()
    except OSError as e:
        return failure("read", "the working directory", e)


# ---- environment, time, process --------------------------------------------------


@builtin("__sys_get_env", 1, cap="env")
def get_env(ctx: HostContext, key: Any) -> str | None:
    """An environment variable's value, or nil when unset."""
    return os.environ.get(want("__sys_get_env", key, "str"))


@builtin("__sys_set_env", 2, cap="env")
def set_env(ctx: HostContext, key: Any, value: Any) -> dict[str, Any] | None:
    """Set an environment variable; nil, or {err} for a name the OS rejects."""
    want("__sys_set_env", key, "str")
    want("__sys_set_env", value, "str")
    if not key or "=" in key or "\0" in key or "\0" in value:
        return error_value(f"cannot set environment variable {key}: "
                           "a name must be non-empty without '=' or NUL, a value without NUL")
    try:
        os.environ[key] = value
    except OSError as e:
        return error_value(f"cannot set environment variable {key}: {e.strerror or e}")
    return None


@builtin("__sys_get_time", 0, cap="time")
def get_time(ctx: HostContext) -> float:
    """Seconds since the Unix epoch, as a float."""
    return time.time()


@builtin("__sys_sleep", 1, cap="time")
def sleep(ctx: HostContext, ms: Any) -> None:
    """Pause for `ms` milliseconds."""
    if not is_num(ms) or not ms >= 0:
        raise RuntimeErr("__sys_sleep expects a non-negative num of milliseconds")
    try:
        time.sleep(ms / 1000)
    except OverflowError:
        raise RuntimeErr("__sys_sleep: duration too large") from None


@builtin("__sys_args", 0)
def args(ctx: HostContext) -> list[str]:
    """A copy of the program's arguments."""
    return list(ctx.args)


@builtin("__sys_exit", 1)
def exit_(ctx: HostContext, code: Any) -> None:
    """End the process with the given status, 0 to 255 (the CLI handles SystemExit)."""
    status = want_int("__sys_exit", code)
    if not 0 <= status <= 255:
        raise RuntimeErr(f"__sys_exit: status must be from 0 to 255, got {status}")
    raise SystemExit(status)


# ---- standard streams ------------------------------------------------------------


def _write(stream: Any, s: str) -> None:
    """Write and flush, so a prompt shows before the program reads input."""
    stream.write(s)
    stream.flush()


@builtin("__sys_write_stdout", 1, cap="io")
def write_stdout(ctx: HostContext, s: Any) -> None:
    """Write a string to standard output (no newline added)."""
    _write(ctx.out, want("__sys_write_stdout", s, "str"))


@builtin("__sys_write_stderr", 1, cap="io")
def write_stderr(ctx: HostContext, s: Any) -> None:
    """Write a string to standard error (no newline added)."""
    _write(ctx.err_out, want("__sys_write_stderr", s, "str"))


@builtin("__sys_read_line", 0, cap="io")
def read_line(ctx: HostContext) -> str | dict[str, Any] | None:
    """One line of standard input without its newline; nil at end of input."""
    if sys.stdin is None:
        return None
    try:
        line = sys.stdin.readline()
    except (OSError, ValueError) as e:  # UnicodeDecodeError is a ValueError
        return error_value(f"cannot read standard input: {e}")
    if line == "":
        return None
    if not utf8_ok(line):  # undecodable bytes arrive as lone surrogates
        return error_value("cannot read standard input: it is not valid UTF-8")
    if line.endswith("\n"):
        line = line[:-1]
    return line[:-1] if line.endswith("\r") else line
