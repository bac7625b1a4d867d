"""`make bench` (second table): how fast can any Python dispatch loop run fib?

The reference interpreter (`stage0/interp/vm.py`) fetches, decodes and dispatches one
ILBC instruction per trip round a Python `while` loop. This script measures,
in this process and against CPython running the same function, two lower
bounds for that design, so the ratio target for the reference interpreter can
be judged on numbers rather than opinion:

* `bare`: a loop that only fetches, decodes and dispatches a no-op
  instruction, times the number of instructions fib(27) executes on the
  real ISA (12 per call that recurses, 5 per call that does not, with the
  superinstructions the compilers emit: see `ilusm dis bench/fib.ilu`). No work is done at all.
* `ideal`: a hand-written interpreter at its most favourable: fib fused into
  nine-instruction and three-instruction paths (compare-and-branch with a
  constant, subtract a constant from a local), one shared value stack with
  clox-style frames, and only the checks the language demands of these
  operations (integer operands, callee and arity, recursion limit): none of
  the reference interpreter's builtins, closures, unset locals or traces.

The first is a hard floor for a loop that runs the ISA as compiled: above 20,
no such interpreter reaches 20 on fib on this machine, however little each
opcode does. The second shows the most that fusing instructions can buy.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

# Opcodes of the idealized interpreter (private to this file).
LT_LK_JUMP_UNLESS, LOAD_GLOBAL, SUB_LK, CALL, ADD, RET, LOAD_LOCAL = range(7)

# fib(n) = if n < 2: n | fib(n - 1) + fib(n - 2), fused by hand; (op, a, b).
FIB_CODE = [
    (LT_LK_JUMP_UNLESS, (0, 2), 3),   # unless local0 < 2, go to 3
    (LOAD_LOCAL, 0, 0),
    (RET, 0, 0),
    (LOAD_GLOBAL, "fib", 0),
    (SUB_LK, 0, 1),                   # push local0 - 1
    (CALL, 1, 0),
    (LOAD_GLOBAL, "fib", 0),
    (SUB_LK, 0, 2),
    (CALL, 1, 0),
    (ADD, 0, 0),
    (RET, 0, 0),
]
RECURSING, LEAF = 12, 5    # real ILBC instructions per fib call of each kind


def ideal_run(code: list[tuple[int, Any, Any]], arg: int, max_depth: int = 10_000) -> Any:
    """Run the one-argument function `code` (global name "fib") on the idealized loop.

    It keeps only the checks the language itself demands of these opcodes:
    integer operands for `<`, `-` and `+`, a callable callee with the right
    arity, and the recursion limit.
    """
    glob = {"fib": code}
    stack: list[Any] = [code, arg]
    frames: list[tuple[Any, int, int]] = []
    push, pop = stack.append, stack.pop
    pc, base = 0, 1
    while True:
        op, a, b = code[pc]
        pc += 1
        if op == LT_LK_JUMP_UNLESS:
            x = stack[base + a[0]]
            if x.__class__ is not int:
                raise TypeError("'<' needs numbers")
            if not x < a[1]:
                pc = b
        elif op == LOAD_GLOBAL:
            push(glob[a])
        elif op == SUB_LK:
            x = stack[base + a]
            if x.__class__ is not int:
                raise TypeError("'-' needs numbers")
            push(x - b)
        elif op == CALL:
            f = stack[-a - 1]
            if f.__class__ is not list or a != 1:
                raise TypeError("cannot call")
            if len(frames) >= max_depth:
                raise RecursionError("stack overflow")
            frames.append((code, pc, base))
            code, base, pc = f, len(stack) - a, 0
        elif op == ADD:
            y = pop()
            x = stack[-1]
            if x.__class__ is not int or y.__class__ is not int:
                raise TypeError("'+' needs numbers")
            stack[-1] = x + y
        elif op == RET:
            v = stack[-1]
            del stack[base - 1:]
            if not frames:
                return v
            code, pc, base = frames.pop()
            push(v)
        elif op == LOAD_LOCAL:
            push(stack[base + a])


def bare_dispatch(count: int) -> None:
    """Fetch, decode and dispatch `count` no-op instructions (and one jump per eight)."""
    code = [(0, 0, 0)] * 8 + [(1, 0, 0)]
    pc = done = 0
    while True:
        op, a, b = code[pc]
        pc += 1
        if op == 0:
            done += 1
            if done == count:
                return
        elif op == 1:
            pc = 0


def fib_calls(n: int) -> tuple[int, int]:
    """(calls that recurse, calls that do not) made by fib(n)."""
    before, calls = 1, 1   # fib(0) and fib(1) are one call each
    for _ in range(n - 1):
        before, calls = calls, before + calls + 1
    leaves = (calls + 1) // 2  # a call tree where every inner call has two children
    return calls - leaves, leaves


def py_fib(n: int) -> int:
    """The CPython reference, the same as bench/fib.py."""
    return n if n < 2 else py_fib(n - 1) + py_fib(n - 2)


def best(fn: Any, *args: Any, repeat: int) -> float:
    """Best wall time of `repeat` calls."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    """Print the floor table for fib(N)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("-n", type=int, default=27)
    opts = ap.parse_args()
    assert ideal_run(FIB_CODE, 20) == py_fib(20)
    recursing, leaves = fib_calls(opts.n)
    instructions = recursing * RECURSING + leaves * LEAF
    tp = best(py_fib, opts.n, repeat=opts.repeat)
    tb = best(bare_dispatch, instructions, repeat=opts.repeat)
    ti = best(ideal_run, FIB_CODE, opts.n, repeat=opts.repeat)
    print(f"\nfloor for fib({opts.n}): {recursing + leaves} calls, {instructions} ILBC instructions")
    print(f"{'loop':<34} {'time (s)':>9} {'ratio':>7}")
    print(f"{'CPython':<34} {tp:>9.3f} {1:>7.1f}")
    print(f"{'bare dispatch, no work':<34} {tb:>9.3f} {tb / tp:>7.1f}")
    print(f"{'ideal fused interpreter':<34} {ti:>9.3f} {ti / tp:>7.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
