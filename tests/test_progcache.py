"""Compiled programs kept across processes (stage0/toolchain/progcache.py).

A program compiled once is run again without the toolchain; any change to
what its compile read (its source, a module it uses, a file that would now
shadow a module, the environment the compiler reads) is a miss and a fresh
compile. Damaged and hostile entries are misses; compile errors are never
kept; `off` keeps nothing.
"""
from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from stage0.cli.commands import run_file
from stage0.jit.cache import MAGIC
from stage0.toolchain import selfhost


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of the test's own, and the program's folder as the working folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("ILUSM_PROGRAM_CACHE_DIR", str(folder))
    monkeypatch.delenv("ILUSM_PATH", raising=False)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return folder


class NoToolchain(Exception):
    """Raised by a toolchain that must not be needed."""


def run(name: str, toolchain: bool = True, monkeypatch: Any = None) -> tuple[int, str, str]:
    """Run a program of the working folder; without `toolchain`, loading one is an (internal)
    error naming NoToolchain."""
    if not toolchain:
        selfhost._CACHE.clear()  # noqa: SLF001
        monkeypatch.setattr(selfhost, "default_toolchain", lambda *a: (_ for _ in ()).throw(NoToolchain()))
    out, err = io.StringIO(), io.StringIO()
    status = run_file(name, [], out, err)
    return status, out.getvalue(), err.getvalue()


def test_a_second_run_needs_no_toolchain(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Path("p.ilu").write_text('use "m.ilu"\nprn twice(21)\n')
    Path("m.ilu").write_text("twice(x) = x * 2\n")
    assert run("p.ilu") == (0, "42\n", "")
    assert len(list(cache.glob("*.trc"))) == 1
    assert run("p.ilu", toolchain=False, monkeypatch=monkeypatch) == (0, "42\n", "")


@pytest.mark.parametrize("change", ["source", "module", "shadow", "env"])
def test_what_the_compile_read_decides(cache: Path, monkeypatch: pytest.MonkeyPatch, change: str) -> None:
    """Each change makes the kept image stale: the next run compiles again (with no toolchain
    it fails), and with one it prints the new result."""
    Path("p.ilu").write_text('use "m.ilu"\nuse mth\nprn twice(21), mth.abs(-3)\n')
    Path("m.ilu").write_text("twice(x) = x * 2\n")
    assert run("p.ilu")[1] == "42 3\n"
    if change == "source":
        Path("p.ilu").write_text('use "m.ilu"\nuse mth\nprn twice(20), mth.abs(-3)\n')
        want = "40 3\n"
    elif change == "module":
        Path("m.ilu").write_text("twice(x) = x * 3\n")
        want = "63 3\n"
    elif change == "shadow":  # a module of the program's folder now comes before the library's
        Path("mth.ilu").write_text("abs(x) = 99\n")
        want = "42 99\n"
    else:
        extra = Path("extra")
        extra.mkdir()
        (extra / "mth.ilu").write_text("abs(x) = 7\n")
        monkeypatch.setenv("ILUSM_PATH", str(extra.resolve()))
        want = None  # the library comes first: the same result, but the compile read the variable
    assert "NoToolchain" in run("p.ilu", toolchain=False, monkeypatch=monkeypatch)[2]
    monkeypatch.undo()
    monkeypatch.setenv("ILUSM_PROGRAM_CACHE_DIR", str(cache))
    if change == "env":
        monkeypatch.setenv("ILUSM_PATH", str(Path("extra").resolve()))
    monkeypatch.chdir(cache.parent / "work")
    assert run("p.ilu")[1] == (want or "42 3\n")


def test_compile_errors_are_not_kept(cache: Path) -> None:
    Path("bad.ilu").write_text("prn (1 +\n")
    first = run("bad.ilu")
    assert first[0] == 65 and "bad.ilu" in first[2]
    assert not list(cache.glob("*.trc"))
    assert run("bad.ilu") == first


def test_off_keeps_nothing(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ILUSM_PROGRAM_CACHE_DIR", "off")
    Path("p.ilu").write_text("prn 1\n")
    assert run("p.ilu") == (0, "1\n", "")
    assert not cache.exists()


def entry(cache: Path) -> Path:
    (path,) = cache.glob("*.trc")
    return path


def rewrite_probes(path: Path, probes: Any) -> None:
    """Change an entry's probes, keeping it well formed (its checksum covers the image only)."""
    data = path.read_bytes()
    size = int.from_bytes(data[len(MAGIC):len(MAGIC) + 8], "little")
    at = len(MAGIC) + 8
    header = json.loads(data[at:at + size])
    header["desc"]["probes"] = probes
    head = json.dumps(header).encode()
    path.write_bytes(MAGIC + len(head).to_bytes(8, "little") + head + data[at + size:])


@pytest.mark.parametrize("damage", ["truncated", "image", "write probe", "bad probes", "device"])
def test_damaged_and_hostile_entries_miss(cache: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    Path("p.ilu").write_text("prn 5\n")
    assert run("p.ilu") == (0, "5\n", "")
    path = entry(cache)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[:len(data) // 2])
    elif damage == "image":
        path.write_bytes(data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:])
    elif damage == "write probe":  # a probe that would write a file when made again: never made
        target = cache.parent / "written"
        rewrite_probes(path, [["__sys_write_file", [str(target), "x"], "repr:None"]])
    elif damage == "device":  # reading it again would never end
        rewrite_probes(path, [["__sys_read_file", ["/dev/zero"], "repr:None"]])
    else:
        rewrite_probes(path, [["__sys_stat", [1, 2], "repr:True"], "junk"])
    assert "NoToolchain" in run("p.ilu", toolchain=False, monkeypatch=monkeypatch)[2]
    assert not (cache.parent / "written").exists()
    monkeypatch.undo()
    monkeypatch.setenv("ILUSM_PROGRAM_CACHE_DIR", str(cache))
    monkeypatch.chdir(cache.parent / "work")
    assert run("p.ilu") == (0, "5\n", "")


def test_probes_replay_files_but_never_devices(tmp_path: Path) -> None:
    """Made again unconfined, a probe of a file gives its result; one of a device (which a
    hostile entry could name, and reading might never end) is refused before it is read."""
    from stage0.toolchain.progcache import ReplayContext, _digest, _replays

    f = tmp_path / "m.ilu"
    f.write_bytes(b"x = 1\n")
    ctx = ReplayContext(None, ())
    assert _replays([["__sys_read_file", [str(f)], _digest("x = 1\n")]], ctx)
    assert not _replays([["__sys_read_file", [str(f)], _digest("x = 2\n")]], ctx)
    assert not _replays([["__sys_read_file", ["/dev/null"], _digest("")]], ctx)
