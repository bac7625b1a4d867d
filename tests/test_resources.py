"""Resources end in ilusm errors: out of memory under a memory cap, Ctrl-C while
printing a huge integer, and images holding a huge integer constant.

The memory cases run the CLI as a subprocess whose address space is capped
(RLIMIT_AS), so a failing host cannot eat the machine.
"""
from __future__ import annotations

import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stage0.image import ilbc
from stage0.values import fmt_num, int_text

ROOT = Path(__file__).resolve().parent.parent
CAP = 2_000_000_000  # bytes of address space: the CLI's 512 MB thread stack fits


def capped() -> None:
    """preexec_fn: cap the child's address space, let SIGINT kill it normally."""
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_capped(path: Path, engine: str) -> subprocess.CompletedProcess:
    """Run an ilusm program under the memory cap; text output."""
    return subprocess.run([sys.executable, "-m", "stage0", "run", "--engine", engine, str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, preexec_fn=capped)


OOM_PROGRAM = """\
dbl(s, n) =
    i = 0
    whl i < n:
        s = s + s
        i = i + 1
    s
r = try(\\() dbl("ab", 40))
prn r.val, r.err
prn len(dbl("ab", 4))
r = try(\\() 0..100000000)
prn r.err
xs = []
r = try(\\() push(xs, dbl("ab", 40)))
prn r.err, len(xs)
s = dbl("ab", 40)
prn "not reached"
"""


@pytest.mark.parametrize("engine", ["fast", "ref"])
def test_out_of_memory_is_a_catchable_runtime_error(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "oom.ilu"
    path.write_text(OOM_PROGRAM)
    p = run_capped(path, engine)
    # 0..100000000 would need 4 GB at 40 bytes an element: more than the cap allows.
    assert p.stdout == "nil out of memory\n32\nout of memory\nout of memory 0\n"
    # Traces name a file outside the working folder by its absolute path.
    assert (p.returncode, p.stderr) == (70, f"error: out of memory\n  at <module> ({path}:15)\n  at dbl ({path}:4)\n")


@pytest.mark.parametrize("engine", ["fast", "ref"])
def test_ctrl_c_stops_printing_a_huge_integer(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "big.ilu"
    # 64 million bits (shifts stop at 16 Mi bits): 19 million digits, many seconds of conversion.
    path.write_text('n = __num_shl(1, 16000000)\nn = n * n * n * n\nprn "started"\nprn n\n')
    p = subprocess.Popen([sys.executable, "-m", "stage0", "run", "--engine", engine, str(path)], cwd=ROOT,
                         text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=capped)
    try:
        assert p.stdout is not None
        assert p.stdout.readline() == "started\n"
        time.sleep(1)
        p.send_signal(signal.SIGINT)
        start = time.monotonic()
        out, err = p.communicate(timeout=60)
        assert time.monotonic() - start < 5
    finally:
        p.kill()
        p.wait()
    assert (p.returncode, out, err) == (130, "", "error: interrupted\n")


def test_huge_integers_print_exactly() -> None:
    rng = random.Random(8)
    samples = [0, -1, 1 << 20_000, -(1 << 20_000), (1 << 20_000) - 1, 10 ** 7000, 10 ** 7000 - 1, -10 ** 9000]
    samples += [rng.getrandbits(rng.randrange(20_000, 300_000)) * rng.choice((1, -1)) for _ in range(12)]
    for n in samples:
        assert int_text(n) == str(n)
        assert fmt_num(n) == str(n)


def big_constant_image(tmp_path: Path) -> Path:
    """An image whose one integer constant has 16 million bits (a 2 MB image)."""
    src = tmp_path / "big.ilu"
    src.write_text("x = 98765\nprn len(str(x)), x % 1000\n")
    small = tmp_path / "small.ilbc"
    subprocess.run([sys.executable, "-m", "stage0", "compile", str(src), "-o", str(small)], cwd=ROOT, check=True,
                   timeout=120)
    image = ilbc.read(small.read_bytes())
    image.consts = [(1 << 16_000_000) - 1 if c == 98765 else c for c in image.consts]
    path = tmp_path / "big.ilbc"
    path.write_bytes(ilbc.write(image))
    return path


@pytest.mark.parametrize("engine", ["fast", "ref"])
def test_an_image_with_a_huge_integer_constant_loads_and_prints_quickly(tmp_path: Path, engine: str) -> None:
    path = big_constant_image(tmp_path)
    assert path.stat().st_size > 2_000_000
    start = time.monotonic()
    p = run_capped(path, engine)
    took = time.monotonic() - start
    assert (p.returncode, p.stdout, p.stderr) == (0, "4816480 375\n", "")
    assert took < 20  # about 2 s here; CPython's own str() took minutes


PROBE = """\
import resource, sys
from stage0.cli.commands import main
from stage0.values import memory_budget
sys.argv = ["ilusm", "run", sys.argv[1]]
try:
    main()
except SystemExit:
    pass
print(resource.getrlimit(resource.RLIMIT_AS)[0] == memory_budget() > 0)
"""


def test_running_a_program_caps_the_address_space_at_the_memory_budget(tmp_path: Path) -> None:
    path = tmp_path / "p.ilu"
    path.write_text('prn "ok"\n')
    p = subprocess.run([sys.executable, "-c", PROBE, str(path)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert (p.stdout, p.stderr) == ("ok\nTrue\n", "")


def test_programs_run_by_the_host_get_the_original_address_space_limit(tmp_path: Path) -> None:
    path = tmp_path / "p.ilu"
    child = "import resource; print(resource.getrlimit(resource.RLIMIT_AS)[0])"
    path.write_text(f"r = __sys_run_command({sys.executable!r}, [\"-c\", {child!r}])\nprn r.code, r.out\n"
                    .replace("'", '"'))
    p = subprocess.run([sys.executable, "-m", "stage0", "run", str(path)], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert (p.stdout, p.stderr) == (f"0 {resource.getrlimit(resource.RLIMIT_AS)[0]}\n\n", "")
