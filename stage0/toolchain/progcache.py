"""Compiled programs kept across processes, so `ilusm run` skips the self-hosted compiler.

Loading the toolchain image (reading, verifying, translating it) takes most
of a small program's start-up. A program the toolchain compiled before, from
the same files, needs none of it.

What a compile read is known exactly: the compiler touches the outside world
only through host builtins, and every one that reads it needs a capability
(registry.checked). While the toolchain compiles, each such call is noted
with its arguments and a digest of its result: the probes. A compile is a
function of the toolchain image, the host's builtins and those results, so
an entry is reused when the image and builtins are the same (they are in the
key, with the file named, the working folder and the sandbox) and every probe,
made again, gives the same result. A compile that called anything but
read-only file and environment builtins (`fs:ro`, `env`) is not kept.

Entries live in ILUSM_PROGRAM_CACHE_DIR (default ~/.cache/ilusm-programs;
`off` disables it), in the JIT cache's format (stage0/jit/cache.py): checked
by checksum, written by temp file and rename, the oldest evicted past
MAX_BYTES. The image read back is verified as any image is.
"""
from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Optional

from stage0.errors import ImageError, RuntimeErr
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.jit.cache import Cache, folder_from_env
from stage0.paths import COMMITTED_IMAGE

VERSION = 1
MAX_BYTES = 64 << 20
# The capabilities of the builtins whose calls a kept compile may have made: reading files and
# the environment, which can be made again to check an entry.
REPLAYABLE = frozenset({"fs:ro", "env"})


def _digest(v: Any) -> str:
    """A builtin's result, as a probe keeps it: bytes and text by their sha256, an error it
    raised by its message, the rest as written."""
    if isinstance(v, RuntimeErr):
        return "raise:" + v.message
    if isinstance(v, (bytes, bytearray)):
        return "sha256:" + hashlib.sha256(v).hexdigest()
    if isinstance(v, str):  # a source file's text, mostly
        return "text:" + hashlib.sha256(v.encode("utf-8", "surrogatepass")).hexdigest()
    return "repr:" + repr(v)


class Probes:
    """The calls of capability builtins one compile made: [name, args, digest of the result]."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []
        self.replayable = True

    def note(self, name: str, cap: str, args: tuple[Any, ...], result: Any) -> None:
        """One call (registry.checked calls this while a compile is watched)."""
        if cap not in REPLAYABLE or not all(type(a) is str for a in args):
            self.replayable = False
        self.calls.append([name, list(args), _digest(result)])


class ReplayContext:
    """What the read-only builtins use of a VM, to make a kept compile's probes again without one:
    the sandbox the compile ran in, and the capabilities to read."""

    def __init__(self, fs_root: Optional[str], read_roots: tuple[str, ...]) -> None:
        self.caps = REPLAYABLE
        self.fs_root, self.read_roots = fs_root, read_roots
        self.cap_log = None
        self.probes: Optional[Probes] = None


def _replays(probes: Any, ctx: ReplayContext) -> bool:
    """Whether every probe, made again, gives what it gave."""
    from stage0.host import all_builtins

    builtins = all_builtins()
    if type(probes) is not list:
        return False
    for p in probes:
        if type(p) is not list or len(p) != 3 or type(p[0]) is not str or type(p[1]) is not list:
            return False
        b = builtins.get(p[0])
        if b is None or b.cap not in REPLAYABLE or not all(type(a) is str for a in p[1]):
            return False
        if b.cap == "fs:ro" and p[1] and _special(p[1][0]):
            return False  # a device or a pipe (never a module): reading it might never end
        try:
            got = _digest(b.fn(ctx, *p[1]))
        except RuntimeErr as e:
            got = _digest(e)
        except (OSError, TypeError, ValueError):
            return False
        if got != p[2]:
            return False
    return True


def _special(path: str) -> bool:
    """Whether path names something other than a file or a folder."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def host_fingerprint() -> str:
    """The host's builtins (name, arity, capability): the compiler asks the host what it has."""
    from stage0.host import all_builtins

    rows = sorted((b.name, b.arity, b.cap or "") for b in all_builtins().values())
    return hashlib.sha256(json.dumps(rows).encode("utf-8")).hexdigest()


class ProgramCache:
    """One folder of compiled programs."""

    def __init__(self, folder: Path) -> None:
        self.store = Cache(folder, MAX_BYTES)

    @staticmethod
    def key(path: Path, fs_root: Optional[str], read_roots: tuple[str, ...]) -> Optional[str]:
        """The entry a compile of `path` would have: None without a committed toolchain image."""
        try:
            image = COMMITTED_IMAGE.read_bytes()
        except OSError:
            return None
        parts = [VERSION, hashlib.sha256(image).hexdigest(), host_fingerprint(), str(path), os.getcwd(),
                 fs_root, list(read_roots)]
        return hashlib.sha256(json.dumps(parts).encode("utf-8", "surrogatepass")).hexdigest()

    def load(self, key: str, fs_root: Optional[str], read_roots: tuple[str, ...]) -> Optional[Image]:
        """The image of an entry whose probes all hold; None: a miss."""
        hit = self.store.load(key)
        if hit is None or not _replays(hit[0]["desc"].get("probes"), ReplayContext(fs_root, read_roots)):
            return None
        try:
            return ilbc.read(hit[1])
        except ImageError:
            return None

    def keep(self, key: str, probes: Probes, data: bytes) -> None:
        """Keep a compile's image, when what it read can be read again."""
        if probes.replayable:
            self.store.store(key, "program", {"probes": probes.calls}, data)


def program_cache() -> Optional[ProgramCache]:
    """The cache ILUSM_PROGRAM_CACHE_DIR names (default ~/.cache/ilusm-programs), or None when it
    is off."""
    folder = folder_from_env(variable="ILUSM_PROGRAM_CACHE_DIR", default="ilusm-programs")
    return None if folder is None else ProgramCache(folder)
