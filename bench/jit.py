"""`make bench`, the JIT's table: bench/jit/*.ilu against the same programs in Python.

Two parts, each run in this one job, one after the other:

* Loops (counter_loop, loop_with_branch) at 1k, 10k and 100k iterations,
  timed in this process as fusevm reports them: `run(n)` on the reference
  interpreter, on the fast tier without the JIT, cold (a fresh VM and JIT,
  no disk cache: the first call records, compiles with jit.ilu and LLVM, and
  runs; the trace compiler and LLVM are loaded beforehand, once per process)
  and warm (the best of 20 more calls on that VM: entry, trace, exit), warm
  again with a generic trace (jit.enable_type_spec(fls): kinds as tags at
  run time), and in CPython. The pipeline: the first compile runs no IR passes at LLVM's
  default codegen level; a trace entered 8 times (or running 2^20 iterations at once) is recompiled with the O2
  IR pipeline; every trace takes a budget exit each 2^20 iterations.
* Whole programs (mandelbrot, nbody, spectral_norm, fannkuch) as separate
  processes, wall time, start-up and compilation included: `ilusm run` with
  the JIT and an empty cache (cold), again with the cache it left (warm),
  without the JIT (the fast tier alone), on the reference interpreter with
  --ref, and `python` on the twin program.

Times are the best of --repeat runs. Results must match Python's; a
mismatch fails the run.
"""
from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent / "jit"
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))

from stage0.fast.vm import FastVM  # noqa: E402
from stage0.interp.vm import VM  # noqa: E402
from stage0.jit import runtime  # noqa: E402
from stage0.seedc.driver import compile_file  # noqa: E402

LOOPS = ("counter_loop", "loop_with_branch")
SIZES = (1_000, 10_000, 100_000)
FUSEVM_100K = {"counter_loop": 27.5e-6, "loop_with_branch": 29.1e-6}  # its block JIT (../shared/spec/jit.md)
PROGRAMS = {"mandelbrot": 300, "nbody": 50_000, "spectral_norm": 150, "fannkuch": 9}


def ilusm_run(name: str, engine: type[VM], jit: Any) -> Callable[[int], Any]:
    """The program's run function on a fresh VM (with jit, or none), callable from Python."""
    vm = engine(compile_file(HERE / f"{name}.ilu"), out=io.StringIO(), jit=jit)
    run = vm.run_main() and vm.modules[vm.entry].globals["run"]
    return lambda n: vm.call(run, [n])


def python_run(name: str) -> Callable[[int], Any]:
    """The twin program's run function."""
    env: dict[str, Any] = {"__name__": "__bench__"}
    exec(compile((HERE / f"{name}.py").read_text(), f"{name}.py", "exec"), env)
    return env["run"]  # type: ignore[no-any-return]


def best(f: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """(the best time of repeat calls of f, its result)."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = f()
        out.append((time.perf_counter() - t0, r))
    return min(out, key=lambda p: p[0])[0], out[0][1]


def loops(repeat: int) -> int:
    """The loop table; gives the number of mismatches."""
    runtime._trace_compiler()  # noqa: SLF001  (jit.ilu and LLVM load before anything is timed)
    ilusm_run("counter_loop", FastVM, runtime.Jit({"threshold": 1}))(10)

    print(f"{'loop':<17} {'n':>7} {'ref':>10} {'fast':>10} {'cold':>10} {'warm':>10} {'generic':>10} {'python':>10}"
          f" {'ref/warm':>9} {'warm/fusevm':>12}")
    bad = 0
    for name in LOOPS:
        for n in SIZES:
            tr, want = best(lambda name=name, n=n: ilusm_run(name, VM, None)(n), repeat)
            tf, _ = best(lambda name=name, n=n: ilusm_run(name, FastVM, None)(n), repeat)
            run = ilusm_run(name, FastVM, runtime.Jit())
            tc, got_cold = best(lambda run=run, n=n: run(n), 1)
            tw, got = best(lambda run=run, n=n: run(n), 20)
            generic = ilusm_run(name, FastVM, runtime.Jit({"type_spec": False}))
            generic(n)
            tg, got_generic = best(lambda run=generic, n=n: run(n), 20)
            tp, py = best(lambda name=name, n=n: python_run(name)(n), repeat)
            flag = "" if want == got == got_cold == got_generic == py else "  RESULT DIFFERS"
            bad += bool(flag)
            fus = f"{tw / FUSEVM_100K[name]:>12.2f}" if n == 100_000 else f"{'':>12}"
            times = " ".join(us(x) for x in (tr, tf, tc, tw, tg, tp))
            print(f"{name:<17} {n:>7} {times} {tr / tw:>9.0f} {fus}{flag}", flush=True)
    return bad


def us(t: float) -> str:
    """A time in µs, right-aligned."""
    return f"{t * 1e6:>8.1f}µs"


def process(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """(wall seconds, stdout) of a process; it must succeed."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, **env))
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {p.stderr[-500:]}")
    return time.perf_counter() - t0, p.stdout


def programs(repeat: int, with_ref: bool) -> int:
    """The whole-program table; gives the number of mismatches."""
    print(f"\n{'program':<14} {'arg':>7} {'python':>8} {'fast':>8} {'ref':>8} {'jit cold':>9} {'jit warm':>9}"
          f" {'python/cold':>12} {'python/warm':>12}")
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, arg in PROGRAMS.items():
            ilu, py = Path(tmp) / f"{name}.ilu", Path(tmp) / f"{name}.py"
            ilu.write_text((HERE / f"{name}.ilu").read_text() + f"prn run({arg})\n")
            py.write_text((HERE / f"{name}.py").read_text() + f"print(run({arg}))\n")
            ilusm = [sys.executable, "-m", "stage0", "run", str(ilu)]
            ref = ilusm[:4] + ["--engine", "ref", str(ilu)]
            tp, out_p = min(process([sys.executable, str(py)], {}) for _ in range(repeat))
            tf, out_f = min(process(ilusm, {"ILUSM_JIT": "off"}) for _ in range(repeat))
            tr, out_r = process(ref, {"ILUSM_JIT": "off"}) if with_ref else (float("nan"), out_f)
            colds, warms = [], []
            for k in range(repeat):
                cache = str(Path(tmp) / f"cache-{name}-{k}")
                colds.append(process(ilusm, {"ILUSM_JIT_CACHE_DIR": cache}))
                warms.append(process(ilusm, {"ILUSM_JIT_CACHE_DIR": cache}))
            (tc, out_c), (tw, out_w) = min(colds), min(warms)
            same = {_number(o) for o in (out_f, out_r, out_c, out_w)} == {_number(out_p)}
            bad += not same
            print(f"{name:<14} {arg:>7} {tp:>8.2f} {tf:>8.2f} {tr:>8.2f} {tc:>9.2f} {tw:>9.2f} {tp / tc:>12.2f}"
                  f" {tp / tw:>12.2f}{'' if same else '  OUTPUT DIFFERS'}", flush=True)
    return bad


def _number(out: str) -> str:
    """Printed results compared as ilusm prints them (Python prints lists and floats alike here)."""
    return out.strip().replace(" ", "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--ref", action="store_true", help="also run the whole programs on the reference interpreter")
    ap.add_argument("--only", choices=["loops", "programs"], help="run one part")
    opts = ap.parse_args()
    sys.setrecursionlimit(100_000)
    bad = 0 if opts.only == "programs" else loops(opts.repeat)
    bad += 0 if opts.only == "loops" else programs(opts.repeat, opts.ref)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
