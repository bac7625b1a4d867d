"""Child processes (`__sys_run_command`, `__sys_spawn`, `__sys_wait`, `__sys_kill`) and facts about this one.

A child is started without a shell, with its output captured. A child ilusm
program inherits the parent's capabilities through `ILUSM_CAPS` and
`ILUSM_FS_ROOT`, which the child's CLI intersects with its own flags, so a
child can only ever hold less than its parent (spec §3.6); asking for a
capability the parent lacks raises. With `opts.caps` given, the child is also
confined at kernel level where the host can (stage0/host/sandbox.py).

A child's standard input is a pipe, closed at once when there is nothing to
send: that is an empty input without opening /dev/null read-write, which a
pledged program without `fs` may not do.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any, Optional

from stage0.errors import RuntimeErr
from stage0.host.caps import base_caps, confine, narrow, parse_caps
from stage0.host.core import want
from stage0.host.net import _ms
from stage0.host.registry import HostContext, builtin
from stage0.host.sys import failure
from stage0.values import inherited_address_space

SPAWN_OPTIONS = ("caps", "env", "stdin", "cwd")


class Child:
    """A running child: the process and the input it has yet to be given."""

    def __init__(self, p: subprocess.Popen[bytes], stdin: Optional[bytes]) -> None:
        self.p = p
        self.stdin = stdin

    def close(self) -> None:
        """Stop the child if it still runs (the VM is done with it)."""
        stop(self.p)


def stop(p: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after a second; then close our ends of its pipes."""
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(1.0)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for pipe in (p.stdin, p.stdout, p.stderr):
        if pipe is not None:
            pipe.close()


def child_caps(ctx: HostContext, wanted: Any) -> frozenset[str]:
    """The child's set: the parent's, or the subset asked for (more than the parent holds raises)."""
    if wanted is None:
        return ctx.caps
    names = want("__sys_spawn", wanted, "lst", "str")
    text = names if type(names) is str else ",".join(want("__sys_spawn", n, "str") for n in names)
    try:
        asked = parse_caps(text, "__sys_spawn")
    except Exception as e:  # a UsageError from the parser is misuse here
        raise RuntimeErr(str(e)) from None
    missing = sorted(asked - narrow(ctx.caps, asked))
    if missing:
        raise RuntimeErr(f"cannot give the child capability '{missing[0]}': not held")
    return frozenset(asked | {"io"})


def _env(ctx: HostContext, extra: Any, caps: frozenset[str]) -> dict[str, str]:
    """The child's environment: ours, the extra variables, then the capability variables."""
    env = dict(os.environ)
    for k, v in want("__sys_spawn", extra or {}, "obj").items():
        env[k] = want("__sys_spawn", v, "str")
    env["ILUSM_CAPS"] = ",".join(sorted(base_caps(caps)))
    if ctx.fs_root is not None:
        env["ILUSM_FS_ROOT"] = ctx.fs_root
    return env


def start(argv: list[str], data: Optional[bytes], cwd: Optional[str] = None, env: Optional[dict[str, str]] = None,
          confine_kernel: Any = None) -> Child | dict[str, Any]:
    """Start a child with its output captured; the Child, or {err} when it cannot start."""
    try:
        with inherited_address_space():
            p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 cwd=cwd, env=env, preexec_fn=confine_kernel)
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return failure("run", argv[0], e)
    finally:
        if confine_kernel is not None:
            confine_kernel.close()
    if not data and p.stdin is not None:
        p.stdin.close()
        p.stdin = None  # communicate() then leaves it alone
    return Child(p, data or None)


def _text(data: bytes) -> str:
    """A child's output as text; invalid UTF-8 becomes U+FFFD."""
    return data.decode("utf-8", errors="replace")


def _argv(name: str, cmd: Any, args: Any) -> list[str]:
    """[cmd, *args], all str."""
    return [want(name, cmd, "str")] + [want(name, a, "str") for a in want(name, args, "lst")]


@builtin("__sys_run_command", 2, cap="proc")
def run_command(ctx: HostContext, cmd: Any, args: Any) -> dict[str, Any]:
    """Run cmd with a list of str args (no shell, empty input); {code, out, errout} or {err}."""
    child = start(_argv("__sys_run_command", cmd, args), None)
    if isinstance(child, dict):
        return child
    out, err = child.p.communicate()
    return {"code": child.p.returncode, "out": _text(out), "errout": _text(err)}


@builtin("__sys_spawn", 3, cap="proc")
def spawn(ctx: HostContext, cmd: Any, args: Any, opts: Any) -> dict[str, Any]:
    """Start cmd with args (no shell); `{id, pid}`, or {err} when it cannot start.
    opts: {caps, env, stdin, cwd}, any may be missing."""
    argv = _argv("__sys_spawn", cmd, args)
    o = want("__sys_spawn", opts, "obj")
    unknown = sorted(set(o) - set(SPAWN_OPTIONS))
    if unknown:
        raise RuntimeErr(f"__sys_spawn: unknown option '{unknown[0]}' (options: {', '.join(SPAWN_OPTIONS)})")
    caps = child_caps(ctx, o.get("caps"))
    cwd = confine(ctx, "enter", want("__sys_spawn", o["cwd"], "str")) if o.get("cwd") is not None else None
    if isinstance(cwd, dict):
        return cwd
    stdin = o.get("stdin")
    data = None if stdin is None else want("__sys_spawn", stdin, "str").encode("utf-8", "replace")
    confine_kernel = None
    if o.get("caps") is not None:
        from stage0.host.sandbox import child_confinement

        confine_kernel = child_confinement(caps, ctx.fs_root)
    child = start(argv, data, cwd, _env(ctx, o.get("env"), caps), confine_kernel)
    if isinstance(child, dict):
        return child
    return {"id": ctx.handles.add("proc", child), "pid": child.p.pid}


@builtin("__sys_wait", 2, cap="proc")
def wait(ctx: HostContext, h: Any, timeout: Any) -> dict[str, Any]:
    """Wait up to `timeout` ms for a child to end; `{code, out, errout}`, or {err, timeout: tru}."""
    child = ctx.handles.get("__sys_wait", h, "proc")
    try:
        out, err = child.p.communicate(child.stdin, timeout=_ms("__sys_wait", timeout))
    except subprocess.TimeoutExpired:
        child.stdin = None  # communicate keeps what it has not yet written
        return {"err": f"process {child.p.pid} still running after {timeout} ms", "timeout": True}
    ctx.handles.drop(h)
    code = child.p.returncode
    return {"code": code, "out": _text(out), "errout": _text(err)}


@builtin("__sys_kill", 1, cap="proc")
def kill(ctx: HostContext, h: Any) -> None:
    """Stop a child (SIGTERM, then SIGKILL); a child already waited for is fine."""
    child = ctx.handles.drop(h)
    if child is not None:
        stop(child.p)


@builtin("__sys_pid", 0)
def pid(ctx: HostContext) -> int:
    """This process's id."""
    return os.getpid()


@builtin("__sys_platform", 0)
def platform(ctx: HostContext) -> str:
    """"linux", "darwin", "windows" or the OS name Python reports."""
    return "windows" if sys.platform.startswith("win") else sys.platform.rstrip("0123456789")


@builtin("__sys_mono", 0, cap="time")
def mono(ctx: HostContext) -> float:
    """Milliseconds on a monotonic clock (for measuring, not for dates)."""
    return time.monotonic() * 1000



@builtin("__sys_self_cmd", 0)
def self_cmd(ctx: HostContext) -> list[str]:
    """The command that starts ilusm itself (this Python running the stage0 package), for child programs."""
    return [sys.executable, "-m", "stage0"]
