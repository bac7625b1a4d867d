"""bench/floor.py: its idealized interpreter computes fib, and its instruction
counts are the ones the reference interpreter really executes."""
from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from stage0.interp.vm import VM
from stage0.seedc.driver import compile_file

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import floor  # noqa: E402


def count_calls(n: int) -> tuple[int, int]:
    """(recursing, leaf) calls of fib(n), counted by running it."""
    counts = [0, 0]

    def fib(k: int) -> int:
        counts[k < 2] += 1
        return k if k < 2 else fib(k - 1) + fib(k - 2)

    fib(n)
    return counts[0], counts[1]


@pytest.mark.parametrize("n", range(0, 16))
def test_ideal_interpreter_computes_fib(n: int) -> None:
    assert floor.ideal_run(floor.FIB_CODE, n) == floor.py_fib(n)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 12])
def test_call_counts(n: int) -> None:
    assert floor.fib_calls(n) == count_calls(n)


def test_ideal_interpreter_keeps_its_checks() -> None:
    with pytest.raises(TypeError):
        floor.ideal_run(floor.FIB_CODE, "x")  # type: ignore[arg-type]
    with pytest.raises(RecursionError):
        floor.ideal_run(floor.FIB_CODE, 30, max_depth=5)


class _Counter(io.StringIO):
    """A --trace sink that only counts lines (one per executed instruction)."""

    lines = 0

    def write(self, s: str) -> int:
        self.lines += s.count("\n")
        return len(s)


def test_instruction_counts_match_the_reference_interpreter(tmp_path: Path) -> None:
    """12 instructions per recursing call and 5 per leaf, as bench/fib.ilu compiles today."""
    src = (ROOT / "bench" / "fib.ilu").read_text().replace("fib(27)", "fib(10)")
    prog = tmp_path / "fib.ilu"
    prog.write_text(src)
    ten = VM(compile_file(prog), out=io.StringIO(), trace=_Counter())
    ten.run_main()
    prog.write_text(src.replace("prn fib(10)", "prn 0"))
    empty = VM(compile_file(prog), out=io.StringIO(), trace=_Counter())
    empty.run_main()
    recursing, leaves = floor.fib_calls(10)
    expected = recursing * floor.RECURSING + leaves * floor.LEAF
    assert ten.trace_out.lines - empty.trace_out.lines == expected + 2  # the caller's LOAD_GLOBAL fib and CALL
