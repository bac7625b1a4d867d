"""Measure what the superinstructions save: each program compiled with and without fusion.

For every program (default: bench/*.ilu) this prints the instructions executed
on the reference interpreter with fusion off and on, and the wall time on the
reference interpreter (`ref`) and on the self-hosted VM (`vm`) both ways, all in
this one process; outputs must agree. The counts are exact and machine-free;
the times are one run each (`--repeat` for the best of several) on whatever
machine runs it, so quote their ratios. `--count-only` skips the timing.

The seed compiler's FUSE switch (stage0/seedc/emit.py) exists for this tool:
the toolchain itself always fuses.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import genlib

from stage0 import isa  # noqa: E402  (genlib put the repository root on the path)
from stage0.image import ilbc  # noqa: E402
from stage0.image.model import Image  # noqa: E402
from stage0.interp.vm import VM  # noqa: E402
from stage0.seedc import emit  # noqa: E402
from stage0.seedc.driver import compile_file  # noqa: E402
from stage0.toolchain.selfvm import SelfHostedVM  # noqa: E402


class CountingVM(VM):
    """The reference interpreter, counting executed instructions by opcode (through its
    --trace hook, so the loop itself is the one that always runs)."""

    def __init__(self, image: Image, out: Any) -> None:
        super().__init__(image, out=out, trace=io.StringIO())
        self.counts: Counter[str] = Counter()

    def trace_step(self, fr: list[Any], pc: int, stack: list[Any]) -> None:
        self.counts[isa.BY_CODE[fr[0].proto.code[pc][0]].name] += 1


def image_of(path: Path, fuse: bool) -> Image:
    """The program compiled by the seed compiler, with or without superinstructions."""
    emit.FUSE = fuse
    try:
        return ilbc.read(ilbc.write(compile_file(path)))
    finally:
        emit.FUSE = True


def count(image: Image) -> tuple[Counter[str], str]:
    """Executed instructions by opcode name, and the program's output."""
    out = io.StringIO()
    vm = CountingVM(image, out)
    vm.run_main()
    return vm.counts, out.getvalue()


def timed(engine: type[VM] | type[SelfHostedVM], image: Image, repeat: int) -> tuple[float, str]:
    """Best wall time of `repeat` runs on an engine, and the output."""
    best, text = float("inf"), ""
    for _ in range(repeat):
        out = io.StringIO()
        vm = engine(image, out=out)
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            vm.run_main()
        best, text = min(best, time.perf_counter() - t0), out.getvalue()
    return best, text


def main() -> int:
    """Print the table; exit 1 if fusion changes any program's output."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("programs", nargs="*", type=Path, help="ilusm programs (default: bench/*.ilu)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--count-only", action="store_true", help="only count instructions")
    opts = ap.parse_args()
    sys.setrecursionlimit(100_000)
    programs = opts.programs or sorted((genlib.ROOT / "bench").glob("*.ilu"))
    timing = "".join(f" {h:>8}" for h in ("ref off", "ref on", "ratio", "vm off", "vm on", "ratio"))
    print(f"{'program':<12} {'instrs off':>11} {'instrs on':>11} {'saved':>6}" + ("" if opts.count_only else timing))
    fused: Counter[str] = Counter()
    bad = 0
    for path in programs:
        plain, fast = image_of(path, False), image_of(path, True)
        n_off, out_off = count(plain)
        n_on, out_on = count(fast)
        fused.update({k: v for k, v in n_on.items() if isa.BY_NAME[k].parts})
        row = f"{path.stem:<12} {sum(n_off.values()):>11,} {sum(n_on.values()):>11,} " \
              f"{1 - sum(n_on.values()) / sum(n_off.values()):>6.1%}"
        outs = {out_off, out_on}
        if not opts.count_only:
            times = []
            for engine in (VM, SelfHostedVM):
                for image in (plain, fast):
                    t, text = timed(engine, image, opts.repeat)
                    times.append(t)
                    outs.add(text)
            row += f" {times[0]:>8.3f} {times[1]:>8.3f} {times[1] / times[0]:>8.2f}" \
                   f" {times[2]:>8.3f} {times[3]:>8.3f} {times[3] / times[2]:>8.2f}"
        if len(outs) != 1:
            row += "  OUTPUT DIFFERS"
            bad += 1
        print(row, flush=True)
    print("superinstructions executed: " + ", ".join(f"{k} {v:,}" for k, v in fused.most_common()))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
