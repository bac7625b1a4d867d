"""The JIT's native-code disk cache: a compiled trace, kept across processes.

A trace's key is the sha256 of its recording, the trace compiler's own
bytecode, the protocol version and the machine's fingerprint (LLVM version,
triple, CPU and features; stage0/host/mch.py), so an entry made on another
machine, or by another version of jit.ilu, is simply never asked for. An
entry `<key>.trc` holds:

    MAGIC, the header's length (8 bytes, little-endian), the header (JSON:
    version, key, function name, the trace's description (its IR too, for
    the O2 recompile),
    the object's length and sha256), then the object MCJIT made.

`load` checks all of that before the object reaches LLVM, whose object
loader is not hardened: a truncated, corrupt or foreign entry is a miss
(and a corrupt file is removed). `store` writes a temporary file and
renames it into place, so parallel writers never leave half an entry; then
it evicts the oldest entries (by mtime; a hit touches its entry) until the
folder is below 80% of its cap. The folder and cap come from
ILUSM_JIT_CACHE_DIR (default ~/.cache/ilusm-jit; `off` disables the cache)
and ILUSM_JIT_CACHE_MAX_BYTES (k, m, g suffixes; 0, off or unlimited: no
eviction).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from stage0.errors import UsageError

MAGIC = b"ILUSMTRC"
VERSION = 1
DEFAULT_MAX_BYTES = 256 << 20
_SUFFIX = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
# The trace compiler's modules in lib/backend: jit.ilu and what it uses. A trace's cache key and
# the kept compiled trace compiler both hash them.
COMPILER_MODULES = ("jit.ilu", "trc.ilu", "trn.ilu", "mch.ilu")


def compiler_sources() -> list[Path]:
    """The trace compiler's source files."""
    from stage0.paths import lib_root

    return [lib_root() / "backend" / name for name in COMPILER_MODULES]


def folder_from_env(environ: Optional[Mapping[str, str]] = None, variable: str = "ILUSM_JIT_CACHE_DIR",
                    default: str = "ilusm-jit") -> Optional[Path]:
    """The cache folder an environment variable names (ILUSM_JIT_CACHE_DIR: ~/.cache/<default>
    when unset or empty); None when it is `off`."""
    env = os.environ if environ is None else environ
    raw = env.get(variable, "")
    if raw.lower() == "off":
        return None
    return Path(raw) if raw else Path.home() / ".cache" / default


def cap_from_env(environ: Optional[Mapping[str, str]] = None) -> Optional[int]:
    """ILUSM_JIT_CACHE_MAX_BYTES in bytes (None: no eviction); a malformed value is a usage error."""
    env = os.environ if environ is None else environ
    raw = env.get("ILUSM_JIT_CACHE_MAX_BYTES", "").strip().lower()
    if not raw:
        return DEFAULT_MAX_BYTES
    if raw in ("0", "off", "unlimited"):
        return None
    scale = _SUFFIX.get(raw[-1], 1)
    digits = raw[:-1] if raw[-1] in _SUFFIX else raw
    if not digits.isdigit():
        raise UsageError(f"ILUSM_JIT_CACHE_MAX_BYTES must be a size like 300m, got '{raw}'")
    return int(digits) * scale


class Cache:
    """One cache folder."""

    def __init__(self, folder: Path, cap: Optional[int] = DEFAULT_MAX_BYTES) -> None:
        self.folder, self.cap = folder, cap

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.trc"

    def entries(self) -> list[Path]:
        """The cache's entry files (nothing else in the folder is touched)."""
        try:
            return [p for p in self.folder.iterdir() if p.suffix == ".trc" and p.is_file()]
        except OSError:
            return []

    def load(self, key: str) -> Optional[tuple[dict[str, Any], bytes]]:
        """(header, object) of a verified entry, or None: a miss."""
        path = self.path(key)
        try:
            data = path.read_bytes()
        except OSError:
            return None
        header = _verified(data, key)
        if header is None:
            _remove(path)
            return None
        try:
            os.utime(path)
        except OSError:
            pass
        return header, data[len(MAGIC) + 8 + header.pop("_size"):]

    def store(self, key: str, fname: str, desc: dict[str, Any], obj: bytes) -> None:
        """Write an entry atomically, then keep the folder under its cap. Failure to write is
        not an error: the cache is only a cache."""
        header = {"version": VERSION, "key": key, "fname": fname, "obj_len": len(obj),
                  "obj_sha256": hashlib.sha256(obj).hexdigest(),
                  "desc": desc}
        head = json.dumps(header, sort_keys=True).encode("utf-8")
        tmp = self.folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(MAGIC + len(head).to_bytes(8, "little") + head + obj)
            os.replace(tmp, self.path(key))
        except OSError:
            _remove(tmp)
            return
        self.evict()

    def evict(self) -> None:
        """Remove the oldest entries until the folder holds at most 80% of the cap."""
        if self.cap is None:
            return
        sized = []
        for p in self.entries():
            try:
                st = p.stat()
            except OSError:
                continue
            sized.append((st.st_mtime, p, st.st_size))
        total = sum(size for _, _, size in sized)
        if total <= self.cap:
            return
        for _, p, size in sorted(sized):
            if total <= self.cap * 0.8:
                break
            _remove(p)
            total -= size

    def stats(self) -> dict[str, Any]:
        """The folder, its entries, their bytes and the cap."""
        files = self.entries()
        return {"dir": str(self.folder), "entries": len(files), "bytes": sum(_size(p) for p in files),
                "max_bytes": self.cap}

    def clear(self) -> int:
        """Remove every entry (and the kept trace compiler); gives how many entries."""
        files = self.entries()
        for p in files + list(self.folder.glob("jit-*.ilbc")):
            _remove(p)
        return len(files)

    def compiler(self, build: Callable[[], Any]) -> Any:
        """The trace compiler's image: read back (and verified) from `jit-<key>.ilbc`, whose key
        is the sha256 of the sources that make it (compiler_sources(), the seed compiler, the
        ISA); else built by `build` and kept there. A damaged file is built again."""
        from stage0 import isa, seedc
        from stage0.errors import ImageError
        from stage0.image import ilbc

        h = hashlib.sha256()
        sources = [*compiler_sources(), Path(isa.__file__), *sorted(Path(seedc.__file__).parent.glob("*.py"))]
        for path in sources:
            h.update(path.read_bytes())
        path = self.folder / f"jit-{h.hexdigest()[:32]}.ilbc"
        try:
            return ilbc.read(path.read_bytes())
        except (OSError, ImageError):
            pass
        image = build()
        tmp = self.folder / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(ilbc.write(image))
            os.replace(tmp, path)
        except OSError:
            _remove(tmp)
        return image


def _verified(data: bytes, key: str) -> Optional[dict[str, Any]]:
    """The header of an entry whose magic, version, key, lengths and checksum all hold; else None."""
    at = len(MAGIC) + 8
    if len(data) < at or not data.startswith(MAGIC):
        return None
    size = int.from_bytes(data[len(MAGIC):at], "little")
    if size > len(data) - at:
        return None
    try:
        header = json.loads(data[at:at + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    obj = data[at + size:]
    if (not isinstance(header, dict) or header.get("version") != VERSION or header.get("key") != key
            or header.get("obj_len") != len(obj) or header.get("obj_sha256") != hashlib.sha256(obj).hexdigest()
            or not isinstance(header.get("desc"), dict) or not isinstance(header.get("fname"), str)):
        return None
    header["_size"] = size
    return header


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def _remove(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass
