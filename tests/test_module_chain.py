"""Loading a chain of `use`d modules (m0 uses m1 uses m2 ...) costs work linear in its length, on both compilers.

Work is counted, not timed: Python calls while the seed driver loads the chain,
and instructions the self-hosted loader (compile_pipeline's load and load_use,
on the reference interpreter) executes. With module names of one width every
module costs the same, so for chains of N, 2N and 4N modules the count grows by
twice as much (within 1%) from 2N to 4N as from N to 2N. The import-cycle check once
walked the chain of modules being loaded for every `use`, which made the growth
quadratic (docs/bootstrap.md gives the measured times).
"""
from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from stage0.seedc import driver
from stage0.seedc.parser import parse
from stage0.toolchain import selfhost

SIZES = (20, 40, 80)
LOADER = ("load", "load_use")  # the self-hosted loader's functions (lib/backend/compile_pipeline.ilu)


def chain(root: Path, n: int) -> Path:
    """A chain of n modules in its own folder; the path of its first module."""
    folder = root / f"chain{n}"
    folder.mkdir()
    for i in range(n):
        use = f"use m{i + 1:05d}\n" if i + 1 < n else ""
        (folder / f"m{i:05d}.ilu").write_text(f"{use}x = {i}\n", encoding="utf-8")
    return folder / "m00000.ilu"


def is_linear(counts: list[int]) -> bool:
    """Does the work for N, 2N, 4N grow as a*N + b (the second step twice the first)?

    Within 1%: a one-time cost (a cache filled on first use) may fall into one
    step; the old quadratic check was 37% over.
    """
    small, mid, large = counts
    return mid > small and abs((large - mid) - 2 * (mid - small)) <= 0.01 * (large - mid)


def seed_calls(path: Path) -> int:
    """Python calls made while the seed driver loads the program at path and what it uses."""
    loader = driver.Loader(parse, path.parent)
    calls = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal calls
        calls += event == "call"

    sys.setprofile(profile)
    try:
        loader.load(path)
    finally:
        sys.setprofile(None)
    assert len(loader.modules) == int(path.parent.name.removeprefix("chain"))
    return calls


def test_seed_loader_is_linear(tmp_path: Path) -> None:
    """The seed driver: calls for a chain of 80 minus 40 modules is twice 40 minus 20."""
    counts = [seed_calls(chain(tmp_path, n)) for n in SIZES]
    assert is_linear(counts), counts


def counting_toolchain() -> tuple[selfhost.Toolchain, Counter[str]]:
    """The committed toolchain on the reference interpreter, counting executed instructions by function name."""
    toolchain = selfhost.Toolchain(selfhost.toolchain_bytes(), engine="ref")
    steps: Counter[str] = Counter()

    def step(fr: list[Any], pc: int, stack: list[Any]) -> None:
        steps.update((fr[0].proto.name,))

    toolchain.vm.trace_step = step  # the VM calls trace_step for every instruction while trace_out is set
    toolchain.vm.trace_out = sys.stderr
    return toolchain, steps


def test_self_hosted_loader_is_linear(tmp_path: Path) -> None:
    """The self-hosted pipeline: its loader's instructions grow linearly too."""
    toolchain, steps = counting_toolchain()
    counts = []
    for n in SIZES:
        steps.clear()
        toolchain.compile_file(chain(tmp_path, n))
        counts.append(sum(steps[name] for name in LOADER))
    assert is_linear(counts), counts
