"""Which capabilities a program holds, and the file sandbox (layer 2 of `../shared/spec/stdlib.md` §3).

Two halves, each used from one side:

- `policy(...)` turns the CLI's flags (`--allow`, `--deny`, `--caps`,
  `--fs-root`) and the environment (`ILUSM_CAPS`, `ILUSM_FS_ROOT`) into the
  set and the root a program VM gets. The environment can only narrow: a
  parent passes it to a child so the child never holds more than its parent.
- `confine(ctx, verb, path)` is the check every file builtin makes: the path,
  with symlinks and `..` resolved, must lie beneath the VM's `fs_root`
  (None: no sandbox, which is what the toolchain's own VMs have).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from stage0.errors import UsageError
from stage0.host.registry import CAPS, DEFAULT_CAPS, HostContext, error_value


@dataclass(frozen=True)
class Policy:
    """What a program VM is granted: its capability set and its file root (None: unconfined)."""

    caps: frozenset[str] = DEFAULT_CAPS
    fs_root: Optional[str] = None
    pledge: bool = False  # install the kernel layer (stage0/host/sandbox.py) before the program starts


def parse_caps(text: str, where: str) -> frozenset[str]:
    """`io,fs:ro, net` -> a set; an unknown name is a usage error naming `where` it came from."""
    names = frozenset(n.strip() for n in text.replace(" ", ",").split(",") if n.strip())
    unknown = sorted(names - set(CAPS))
    if unknown:
        raise UsageError(f"{where}: unknown capability '{unknown[0]}' (known: {', '.join(CAPS)})")
    return names


def _names(values: tuple[str, ...] | list[str], where: str) -> frozenset[str]:
    """The union of several comma lists (a repeated flag)."""
    out: frozenset[str] = frozenset()
    for v in values:
        out |= parse_caps(v, where)
    return out


def base_caps(held: frozenset[str]) -> frozenset[str]:
    """`fs` wherever the set holds it, `fs:ro` dropped when `fs` is there (for display)."""
    return held - {"fs:ro"} if "fs" in held else held


def policy(allow: tuple[str, ...] = (), deny: tuple[str, ...] = (), exact: Optional[str] = None,
           fs_root: Optional[str] = None, environ: Optional[Mapping[str, str]] = None,
           cwd: Optional[str] = None, pledge: bool = False) -> Policy:
    """The program's policy from the CLI flags and the environment (which only narrows)."""
    env = os.environ if environ is None else environ
    held = parse_caps(exact, "--caps") if exact is not None else DEFAULT_CAPS
    held = (held | _names(allow, "--allow")) - _names(deny, "--deny")
    if "fs" in _names(deny, "--deny"):
        held -= {"fs:ro"}
    if env.get("ILUSM_CAPS") is not None:
        held = narrow(held, parse_caps(env["ILUSM_CAPS"], "ILUSM_CAPS"))
    return Policy(frozenset(held | {"io"}), _root(fs_root, env, cwd), pledge)


def narrow(held: frozenset[str], wanted: frozenset[str]) -> frozenset[str]:
    """`held ∩ wanted`, where holding `fs` answers a wish for `fs:ro` (and only that)."""
    out = held & wanted
    if "fs:ro" in wanted and "fs" in held:
        out |= {"fs:ro"}
    return out


def _root(flag: Optional[str], env: Mapping[str, str], cwd: Optional[str]) -> Optional[str]:
    """The sandbox root: --fs-root (`/` = none) or the working folder, narrowed by ILUSM_FS_ROOT."""
    base = os.path.realpath(cwd or os.getcwd())
    root: Optional[str] = base if flag is None else _folder(flag, "--fs-root", base)
    inner = env.get("ILUSM_FS_ROOT")
    if inner:
        wanted = _folder(inner, "ILUSM_FS_ROOT", base)
        if root is None or beneath(wanted or "/", root):
            root = wanted
        elif not beneath(root, wanted or "/"):
            raise UsageError(f"--fs-root {root} lies outside ILUSM_FS_ROOT {wanted}")
    return root


def _folder(path: str, where: str, base: str) -> Optional[str]:
    """An existing folder as a resolved absolute path; `/` means no sandbox (None)."""
    real = os.path.realpath(os.path.join(base, path))
    if not os.path.isdir(real):
        raise UsageError(f"{where}: {path} is not a folder")
    return None if real == os.path.realpath("/") else real


def beneath(path: str, root: str) -> bool:
    """Whether `path` is `root` or lies inside it (both absolute and resolved)."""
    try:
        return os.path.commonpath([root, path]) == root
    except ValueError:
        return False


def resolve(path: str, follow_last: bool = True) -> str:
    """The absolute path with symlinks and `..` resolved; with follow_last false the last part
    is kept (a symlink itself is what `remove` removes)."""
    if follow_last:
        return os.path.realpath(path)
    head, tail = os.path.split(os.path.abspath(path))
    return os.path.join(os.path.realpath(head), tail)


READ_VERBS = ("read", "read directory", "stat", "resolve")


def confine(ctx: HostContext, verb: str, path: str, follow_last: bool = True) -> str | dict[str, Any]:
    """The resolved path to use for `path`, or the error object when it lies outside the sandbox
    (reading may also reach beneath `ctx.read_roots`: the toolchain reads the library)."""
    root = ctx.fs_root
    try:
        real = resolve(path, follow_last)
    except ValueError:  # a NUL in the path: the OS call will fail with its own message
        return path
    if root is None or beneath(real, root):
        return real
    if verb in READ_VERBS and any(beneath(real, r) for r in ctx.read_roots):
        return real
    return error_value(f"cannot {verb} {path}: outside the sandbox ({root})")


def module_roots(root: Optional[str], entry: str) -> tuple[str, ...]:
    """Where a program's modules may be read from when its files are confined beneath root:
    besides root, the entry file's folder, the library and the ILUSM_PATH folders."""
    from stage0.paths import lib_root

    extra = [p for p in os.environ.get("ILUSM_PATH", "").split(os.pathsep) if p]
    folders = [os.path.dirname(os.path.realpath(entry)), str(lib_root()), *extra]
    return tuple(os.path.realpath(f) for f in folders)
