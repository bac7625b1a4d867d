"""`make bench`: each bench/*.ilu on the stage-0 VM against the same program in Python.

Every program runs on the reference interpreter (`ref`), on the fast host
tier (`fast`, stage0/fast/vm.py), on the self-hosted VM (`vm`,
lib/backend/ilusm_vm.ilu on the fast tier), on the tree-walking evaluator
(`evl`, lib/runtime/evl.ilu on the fast tier) and as the equivalent Python
program, all in this one process, one after the other, so the ratios compare
like with like on whatever machine runs it. Outputs must match; a mismatch
fails the run. Times are the best of `--repeat` runs (compile time excluded:
CPython's own compile to bytecode is not timed either; the fast tier's
translation of each function into Python happens on its first call and is
timed; evl's time includes parsing the program, not loading the evaluator).
`--no-evl` leaves the evaluator out (it is the slowest column by far).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from stage0.fast.vm import FastVM  # noqa: E402
from stage0.image import ilbc  # noqa: E402
from stage0.interp.vm import VM  # noqa: E402
from stage0.seedc.driver import compile_file  # noqa: E402
from stage0.toolchain.selfvm import Evaluator, SelfHostedVM  # noqa: E402


def time_python(path: Path) -> tuple[float, str]:
    """Run a Python program; (seconds, stdout)."""
    code = compile(path.read_text(), str(path), "exec")
    out = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(out):
        exec(code, {"__name__": "__bench__"})
    return time.perf_counter() - t0, out.getvalue()


def time_ilusm(path: Path, engine: type[VM] | type[SelfHostedVM] = VM) -> tuple[float, str]:
    """Run an ilusm program on the stage-0 VM (or another engine); (seconds, stdout)."""
    image = ilbc.read(ilbc.write(compile_file(path)))
    out = io.StringIO()
    vm = engine(image, out=out)
    t0 = time.perf_counter()
    vm.run_main()
    return time.perf_counter() - t0, out.getvalue()


def time_evl(path: Path) -> tuple[float, str]:
    """Run an ilusm program on the tree-walking evaluator; (seconds, stdout)."""
    out = io.StringIO()
    ev = Evaluator([], out, 10_000)
    t0 = time.perf_counter()
    ev.run_file(path)
    return time.perf_counter() - t0, out.getvalue()


def main() -> int:
    """Print the table; exit 1 if any output differs."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--no-evl", action="store_true", help="skip the tree-walking evaluator")
    ap.add_argument("--svg", type=Path, default=None, help="also draw the table as an SVG picture (bench/plot.py)")
    ap.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    opts = ap.parse_args()
    sys.setrecursionlimit(100_000)
    names = opts.names or sorted(p.stem for p in HERE.glob("*.ilu"))
    print(f"{'benchmark':<12} {'ref (s)':>9} {'ratio':>7} {'fast (s)':>9} {'ratio':>7} {'vm (s)':>9} {'ratio':>7}"
          f" {'evl (s)':>9} {'ratio':>7} {'python (s)':>11} {'ref/fast':>9} {'vm/fast':>8} {'evl/fast':>9}")
    bad = 0
    rows: dict[str, dict[str, float]] = {}
    for name in names:
        ti, out_i = min(time_ilusm(HERE / f"{name}.ilu") for _ in range(opts.repeat))
        tf, out_f = min(time_ilusm(HERE / f"{name}.ilu", FastVM) for _ in range(opts.repeat))
        tv, out_v = min(time_ilusm(HERE / f"{name}.ilu", SelfHostedVM) for _ in range(opts.repeat))
        te, out_e = (float("nan"), out_i) if opts.no_evl else min(time_evl(HERE / f"{name}.ilu")
                                                                   for _ in range(opts.repeat))
        tp, out_p = min(time_python(HERE / f"{name}.py") for _ in range(opts.repeat))
        rows[name] = {"ref": ti, "fast": tf, "vm": tv, "evl": te, "python": tp}
        flag = "" if out_i == out_p == out_f == out_v == out_e else "  OUTPUT DIFFERS"
        bad += bool(flag)
        print(f"{name:<12} {ti:>9.3f} {ti / tp:>7.1f} {tf:>9.3f} {tf / tp:>7.1f} {tv:>9.3f} {tv / tp:>7.1f}"
              f" {te:>9.3f} {te / tp:>7.1f} {tp:>11.3f} {ti / tf:>9.1f} {tv / tf:>8.1f} {te / tf:>9.1f}{flag}",
              flush=True)
    if opts.svg is not None:
        from plot import plot

        plot(rows, opts.svg)
        print(f"wrote {opts.svg}")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
