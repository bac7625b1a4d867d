"""The JIT's native-code disk cache (stage0/jit/cache.py) and `ilusm jit cache`.

A second process loads what the first compiled and prints the same; a
truncated, corrupt, foreign or hostile entry is a miss and never a crash;
parallel writers leave only whole entries; eviction keeps the folder under
its cap, oldest first; the command shows and clears the cache.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stage0.errors import UsageError
from stage0.host.mch import native_name
from stage0.jit.cache import MAGIC, Cache, cap_from_env, compiler_sources
from stage0.paths import ROOT

pytestmark = pytest.mark.skipif(native_name() != "x86-64", reason="traces run natively on x86-64 only")

PROGRAM = '''use jit
f(n) =
    s = 0
    i <- 1..n: s += i * 3 % 7
    s
g(x) =
    y = 0.0
    i <- 1..200: y = y * 0.5 + x / i
    y
prn f(5000), g(3.0)
st = jit.stats()
prn st.traces, st.cache_hits
'''


def run(folder: Path, tmp: Path, extra: dict[str, str] | None = None) -> list[str]:
    """Run PROGRAM at threshold 1 with the cache in folder; its output lines (exit status 0)."""
    prog = tmp / "prog.ilu"
    prog.write_text(PROGRAM)
    env = dict(os.environ, ILUSM_JIT_THRESHOLD="1", ILUSM_JIT_CACHE_DIR=str(folder), **(extra or {}))
    p = subprocess.run([sys.executable, "-m", "stage0", "run", str(prog)], cwd=ROOT, capture_output=True,
                       text=True, env=env, timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return p.stdout.splitlines()


def test_a_second_process_loads_what_the_first_compiled(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    first = run(folder, tmp_path)
    assert first[1] == "2 0" and len(list(folder.glob("*.trc"))) == 2
    second = run(folder, tmp_path)
    assert second == [first[0], "2 2"]


def damage(folder: Path) -> None:
    """Truncate one entry, flip a byte of the other's object."""
    a, b = sorted(folder.glob("*.trc"))
    a.write_bytes(a.read_bytes()[:40])
    data = bytearray(b.read_bytes())
    data[-5] ^= 0xFF
    b.write_bytes(bytes(data))


def test_damaged_entries_miss_and_are_replaced(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    want = run(folder, tmp_path)[0]
    damage(folder)
    assert run(folder, tmp_path) == [want, "2 0"]
    assert run(folder, tmp_path) == [want, "2 2"]  # rewritten whole


def rewrite_header(path: Path, change: dict[str, object]) -> None:
    """Change fields of an entry's header, keeping its object and checksum."""
    data = path.read_bytes()
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    at = len(MAGIC) + 8
    header = json.loads(data[at:at + size])
    header.update(change)
    head = json.dumps(header).encode()
    path.write_bytes(MAGIC + len(head).to_bytes(8, "little") + head + data[at + size:])


def test_foreign_and_hostile_entries_miss(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    want = run(folder, tmp_path)[0]
    a, b = sorted(folder.glob("*.trc"))
    rewrite_header(a, {"key": "0" * 64, "version": 99})  # another key, another version
    desc = json.loads(json.dumps(Cache(folder).load(b.stem)[0]["desc"]))  # type: ignore[index]
    desc["exits"][0]["pc"] = "0); import os; os._exit(9"  # would be code in the glue
    rewrite_header(b, {"desc": desc})
    assert run(folder, tmp_path) == [want, "2 0"]


def test_parallel_writers_leave_whole_entries(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    prog = tmp_path / "prog.ilu"
    prog.write_text(PROGRAM)
    env = dict(os.environ, ILUSM_JIT_THRESHOLD="1", ILUSM_JIT_CACHE_DIR=str(folder))
    procs = [subprocess.Popen([sys.executable, "-m", "stage0", "run", str(prog)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs) and len({o.splitlines()[0] for o, _ in outs}) == 1, outs
    entries = list(folder.glob("*.trc"))
    assert len(entries) == 2 and all(Cache(folder).load(p.stem) is not None for p in entries)
    assert [p.name for p in folder.iterdir() if p.suffix != ".trc"] == [next(folder.glob("jit-*.ilbc")).name]


def test_eviction_keeps_the_folder_under_its_cap_oldest_first(tmp_path: Path) -> None:
    c = Cache(tmp_path, cap=10_000)
    for k in range(8):
        c.store(f"{k:064x}", "ilt_x", {"exits": []}, bytes(2_000))
        os.utime(c.path(f"{k:064x}"), (1_000_000 + k, 1_000_000 + k))
    left = sorted(p.stem for p in c.entries())
    assert sum(p.stat().st_size for p in c.entries()) <= 10_000
    assert left == [f"{k:064x}" for k in range(8 - len(left), 8)]  # the newest stayed


def test_cache_sizes_from_the_environment() -> None:
    assert cap_from_env({"ILUSM_JIT_CACHE_MAX_BYTES": "300m"}) == 300 << 20
    assert cap_from_env({"ILUSM_JIT_CACHE_MAX_BYTES": "4096"}) == 4096
    assert cap_from_env({"ILUSM_JIT_CACHE_MAX_BYTES": "unlimited"}) is None
    assert cap_from_env({}) == 256 << 20
    with pytest.raises(UsageError):
        cap_from_env({"ILUSM_JIT_CACHE_MAX_BYTES": "lots"})


def ilusm(*args: str, folder: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stage0", *args], cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, ILUSM_JIT_CACHE_DIR=folder), timeout=120)


def test_the_cache_command(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    run(folder, tmp_path)
    (folder / "notes.txt").write_text("not ours")
    p = ilusm("jit", "cache", folder=str(folder))
    assert p.returncode == 0 and f"dir: {folder}" in p.stdout and "entries: 2" in p.stdout
    p = ilusm("jit", "cache", "clear", folder=str(folder))
    assert p.stdout == f"removed 2 entries from {folder}\n"
    assert [q.name for q in folder.iterdir()] == ["notes.txt"]
    assert ilusm("jit", "cache", folder="off").stdout == "the JIT cache is off (ILUSM_JIT_CACHE_DIR=off)\n"
    bad = ilusm("jit", "cache", "drop", folder=str(folder))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_a_write_that_fails_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder would be")
    start = time.time()
    assert run(blocker / "cache", tmp_path)[1] == "2 0"
    assert time.time() - start < 120


def test_the_kept_trace_compiler_is_verified_and_rebuilt(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    want = run(folder, tmp_path)[0]
    (kept,) = folder.glob("jit-*.ilbc")
    good = kept.read_bytes()
    kept.write_bytes(good[:len(good) // 2])  # truncated: the reader refuses it, the compiler is built again
    for p in folder.glob("*.trc"):
        p.unlink()
    assert run(folder, tmp_path) == [want, "2 0"]
    assert kept.read_bytes() == good


def test_the_keys_hash_every_module_of_the_trace_compiler() -> None:
    """A trace's key and the kept compiler's key hash compiler_sources(): it must hold jit.ilu
    and every lib/backend module it uses, directly or not (else a change to one would reuse
    stale code)."""
    listed = {p.name for p in compiler_sources()}
    todo, seen = ["jit.ilu"], set()
    while todo:
        name = todo.pop()
        seen.add(name)
        text = (ROOT / "lib" / "backend" / name).read_text()
        todo += [f"{m}.ilu" for m in re.findall(r"^use (\w+)$", text, re.M) if f"{m}.ilu" not in seen]
    assert seen == listed
