"""The self-hosted back end (lib/backend) against the seed compiler, byte for byte.

lib/backend/compile_pipeline.ilu (with scope, compiler, ilu and mcde) runs on
the stage-0 VM and must produce exactly the bytes of
`stage0.image.ilbc.write(stage0.seedc.driver.compile_file(path))` for every
annotated program of tests/spec and ../shared/conformance/core, the same
compile errors (kind, file, line, column, message), and for `lib/` the bytes
of the seed's compile_tree. Until lib/frontend/prs.ilu exists, parsing goes
through the test-only builtin __dev_parse (tests/selfhost_util.py).

One VM run compiles everything (tests/selfhost/back_driver.ilu); each test
then compares one job's output. A mismatch names the first differing
function and instruction, with both disassemblies.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator, Optional
from unittest import mock

import pytest
from selfhost_util import run_image
from spec_runner import spec_files

from stage0 import isa
from stage0.errors import CompileError, ImageError
from stage0.image import ilbc
from stage0.image.dis import disassemble_func
from stage0.image.model import Image
from stage0.image.verify import decode
from stage0.paths import MAIN_MODULE
from stage0.seedc import driver
from stage0.seedc.emit import FnBuilder

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "lib"
DRIVER = ROOT / "tests" / "selfhost" / "back_driver.ilu"
SPEC_ROOTS = (ROOT / "tests" / "spec", ROOT.parent / "shared" / "conformance" / "core")

PROGRAMS = spec_files(*SPEC_ROOTS)

# Extra programs written by the fixture: constants of every kind, module
# errors, a jump that needs WIDE, unreadable files. name -> source (bytes for raw files).
BIG = "1267650600228229401496703205376"  # 2 ** 100
EXTRA: dict[str, Any] = {
    "consts.ilu": (
        f"xs = [0, 1, 255, 256, 65535, 65536, {BIG}, -{BIG}, -1, 1.0, 0.0, -0.0, 1.5, 0.1, 1e308,\n"
        "      1e999, -1e999, 2.5e-300, 1_000, 0xFF, 0b101, \"\", \"h\u00e9llo \u2713 \U0001F600\", 'q\"', \"a\\nb\"]\n"
        "o = {\"if\": 1, \"X-Key\": 2, a: 1.0, b: 1}\n"
        "prn xs, o\n"
    ),
    "closures.ilu": (
        "mk(a, b) =\n"
        "    c = 0\n"
        "    f = \\(x)\n"
        "        g = \\(y) a + b + c + x + y + z\n"
        "        c += 1\n"
        "        g\n"
        "    h(q) = mat q:\n"
        "        1, 2 => f(q)\n"
        "        -1: nil\n"
        "        _: q?.k?[0]\n"
        "    [f, h]\n"
        "z = 1\n"
        "i, v <- [1, 2]:\n"
        "    if v == 2: cnt\n"
        "    whl tru: brk\n"
        "k <- 1..3: prn k\n"
        "prn mk(1, 2)\n"
    ),
    "cycle_a.ilu": "use cycle_b\nprn 1\n",
    "cycle_b.ilu": "x = 1\nuse cycle_a\n",
    "missing_file.ilu": "prn 1\nuse \"nowhere/none.ilu\"\n",
    "uses_path_mod.ilu": "use extra_path_mod\nprn extra_path_mod.v\n",
    "pathdir/extra_path_mod.ilu": "v = 42\n",
    "far_jump.ilu": "x = 1\nif x:\n" + "    y = 1\n" * 12000 + "prn y\n",
    "const_in_lambda.ilu": "f = \\()\n    def K = 1\n    g = \\() K\n    K = 2\n",
    "bad_utf8.ilu": b"prn 1\n# caf\xc3\xa9 \xe2\x82\n",
    "sub/deep.ilu": "use \"../consts.ilu\"\nprn xs\n",
}
MISSING = "does_not_exist.ilu"


def extra_paths(tmp: Path) -> list[Path]:
    """The extra programs that are compiled as programs (not the helper modules)."""
    skip = {"cycle_b.ilu", "pathdir/extra_path_mod.ilu"}
    return [tmp / n for n in EXTRA if n not in skip] + [tmp / MISSING]


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A temp folder with the extra programs (written once per worker)."""
    tmp = tmp_path_factory.mktemp("selfhost_src")
    for name, text in EXTRA.items():
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")
    return tmp


def compilers_env(tmp: Path) -> Any:
    """ILUSM_LIB and ILUSM_PATH as both compilers need them for the extra programs."""
    return mock.patch.dict(os.environ, {"ILUSM_LIB": str(LIB), "ILUSM_PATH": str(tmp / "pathdir")})


@pytest.fixture(scope="module")
def env(sources: Path) -> Iterator[Path]:
    """The extra programs' folder, with the compilers' environment set."""
    with compilers_env(sources):
        yield sources


@pytest.fixture(scope="session")
def driver_image() -> Image:
    """The test driver and the self-hosted back end, compiled by the seed compiler."""
    return ilbc.read(ilbc.write(driver.compile_file(DRIVER)))


@pytest.fixture(scope="session")
def batch(sources: Path, driver_image: Image, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One VM run compiling every program and lib/, first parsing with __dev_parse, then with prs
    (two minutes: `make test` gives each test file to one worker, pytest --dist loadfile).

    Job outputs by "PARSER:PATH" ("PARSER:lib" for the tree).
    """
    with compilers_env(sources):
        return _batch(sources, driver_image, tmp_path_factory)


def _batch(env: Path, driver_image: Image, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The body of the batch fixture."""
    out = tmp_path_factory.mktemp("selfhost_out")
    paths = [str(p) for p in PROGRAMS + extra_paths(env)]
    args, jobs = [str(out)], []
    for parser in ("dev", "prs"):
        args += ["parser", parser]
        for p in paths:
            args += ["file", p]
            jobs.append(f"{parser}:{p}")
        args += ["tree", str(LIB), MAIN_MODULE]
        jobs.append(f"{parser}:lib")
    status, stdout, stderr = run_image(driver_image, args)
    assert status == 0, f"the driver failed (exit {status}):\n{stdout}\n{stderr}"
    times = dict(line.split() for line in (out / "times.txt").read_text().splitlines())
    return {job: (out, str(i), float(times[str(i)])) for i, job in enumerate(jobs)}


# ---- comparison -------------------------------------------------------------------

def result(job: tuple[Path, str, float]) -> tuple[Optional[bytes], Optional[tuple[str, str, int, int, str]]]:
    """A job's image bytes, or its error as (kind, file, line, col, message)."""
    out, i, _ = job
    image = out / f"{i}.ilbc"
    if image.exists():
        return image.read_bytes(), None
    kind, file, line, col, message = (out / f"{i}.err").read_text(encoding="utf-8").split("\n", 4)
    return None, (kind, file, int(line), int(col), message)


def seed(fn: Any) -> tuple[Optional[bytes], Optional[tuple[str, str, int, int, str]]]:
    """What the seed compiler gives: image bytes or the error tuple."""
    try:
        return ilbc.write(fn()), None
    except CompileError as e:
        return None, (e.kind, e.file, e.line, e.col, e.message)


def first_difference(got: Image, want: Image) -> str:
    """The first differing part of two images, down to the instruction, with disassemblies."""
    for what in ("consts", "names"):
        a, b = getattr(got, what), getattr(want, what)
        for i, (x, y) in enumerate(zip(a, b)):
            if type(x) is not type(y) or x != y or (isinstance(x, float) and x.hex() != y.hex()):
                return f"{what}[{i}]: self-hosted {x!r}, seed {y!r}"
        if len(a) != len(b):
            return f"{what}: self-hosted has {len(a)}, seed {len(b)}"
    for i, (f, g) in enumerate(zip(got.funcs, want.funcs)):
        if f != g:
            return f"function {i}: {function_difference(f, g)}\n--- self-hosted\n" \
                   f"{disassemble_func(got, i)}--- seed\n{disassemble_func(want, i)}"
    if len(got.funcs) != len(want.funcs):
        return f"functions: self-hosted has {len(got.funcs)}, seed {len(want.funcs)}"
    if got.modules != want.modules:
        return f"modules: self-hosted {got.modules}, seed {want.modules}"
    return f"entry: self-hosted {got.entry}, seed {want.entry}"


def function_difference(f: Any, g: Any) -> str:
    """Which field of two FuncDefs differs; for code, the first differing instruction."""
    a, b = decode(f.code), decode(g.code)
    for x, y in zip(a, b):
        if x != y:
            return f"first differing instruction at offset {x[0]}: self-hosted {_ins(x)}, seed {_ins(y)}"
    if len(a) != len(b):
        return f"code: self-hosted {len(a)} instructions, seed {len(b)}"
    for field in ("name", "arity", "nlocals", "upvals", "lines", "local_names", "upval_names"):
        if getattr(f, field, None) != getattr(g, field, None):
            return f"{field}: self-hosted {getattr(f, field)}, seed {getattr(g, field)}"
    return "?"


def _ins(x: tuple[int, int, tuple[int, ...]]) -> str:
    """One decoded instruction as text."""
    return f"{isa.BY_CODE[x[1]].name} {' '.join(map(str, x[2]))}".strip()


def check(got: tuple[Optional[bytes], Any], want: tuple[Optional[bytes], Any]) -> None:
    """Assert equal results; explain a byte difference."""
    if got[1] is not None or want[1] is not None:
        assert got[1] == want[1], f"errors differ: self-hosted {got[1]}, seed {want[1]}"
        return
    assert got[0] is not None and want[0] is not None
    if got[0] == want[0]:
        return
    try:
        image = ilbc.read(got[0])
    except ImageError as e:
        pytest.fail(f"the self-hosted image does not read back: {e}")
    pytest.fail(f"images differ ({len(got[0])} vs {len(want[0])} bytes): "
                f"{first_difference(image, ilbc.read(want[0]))}")


# ---- the tests -------------------------------------------------------------------------

@pytest.mark.parametrize("parser", ["dev", "prs"])
@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_program_matches_seed(batch: dict[str, Any], path: Path, parser: str) -> None:
    """Every annotated spec / conformance program: same bytes, or the same compile error.

    `dev` parses with the seed parser (__dev_parse), `prs` with lib/frontend/prs.ilu.
    """
    check(result(batch[f"{parser}:{path}"]), seed(lambda: driver.compile_file(path)))


@pytest.mark.parametrize("name", [n for n in EXTRA if n not in ("cycle_b.ilu", "pathdir/extra_path_mod.ilu")]
                         + [MISSING])
@pytest.mark.parametrize("parser", ["dev", "prs"])
def test_edge_program_matches_seed(batch: dict[str, Any], env: Path, name: str, parser: str) -> None:
    """Constants of every kind, closures, ILUSM_PATH, cycles, missing modules and files, wide jumps."""
    path = env / name
    check(result(batch[f"{parser}:{path}"]), seed(lambda: driver.compile_file(path)))


def test_edge_errors_are_the_expected_ones(batch: dict[str, Any], env: Path) -> None:
    """The error cases really are errors (so the comparison above is not vacuous)."""
    expect = {
        "cycle_a.ilu": "import cycle: cycle_a.ilu -> cycle_b.ilu -> cycle_a.ilu",
        "missing_file.ilu": "module 'nowhere/none.ilu' not found",
        "const_in_lambda.ilu": "cannot assign to constant 'K'",
        "bad_utf8.ilu": "invalid UTF-8 (byte 0xe2)",
        MISSING: "cannot read file: No such file or directory",
    }
    for name, message in expect.items():
        err = result(batch[f"dev:{env / name}"])[1]
        assert err is not None and err[4] == message, (name, err)


@pytest.mark.parametrize("parser", ["dev", "prs"])
def test_lib_tree_matches_seed(batch: dict[str, Any], parser: str) -> None:
    """compile_tree(lib/) with the pipeline as entry: the seed's image, byte for byte."""
    job = batch[f"{parser}:lib"]
    print(f"\nself-hosted compile_tree(lib/) on the stage-0 VM, parser {parser}: {job[2]:.2f}s")
    check(result(job), seed(lambda: driver.compile_tree(LIB, MAIN_MODULE)))


def test_fixed_point(env: Path, tmp_path: Path) -> None:
    """Stage 2 in small: the seed-built lib image compiles lib/ to the seed's bytes, and so does that output."""
    want = ilbc.write(driver.compile_tree(LIB, MAIN_MODULE))
    image = ilbc.read(want)
    for n in (1, 2):
        out = tmp_path / f"stage2_{n}.ilbc"
        status, _, stderr = run_image(image, ["tree", str(LIB), "--main", MAIN_MODULE, "-o", str(out)])
        assert status == 0, stderr
        check((out.read_bytes(), None), (want, None))
        image = ilbc.read(out.read_bytes())


def test_command_line(env: Path, driver_image: Image, tmp_path: Path) -> None:
    """compile_pipeline.main: `file FILE -o OUT` writes the image; a compile error prints and exits 65."""
    out = tmp_path / "consts.ilbc"
    status, _, stderr = run_image(driver_image, ["--main", "file", str(env / "consts.ilu"), "-o", str(out)])
    assert status == 0, stderr
    assert out.read_bytes() == ilbc.write(driver.compile_file(env / "consts.ilu"))
    status, _, stderr = run_image(driver_image, ["--main", "file", str(env / "missing_file.ilu"), "-o", str(out)])
    assert status == 65
    assert f"{env / 'missing_file.ilu'}:2:1: error: module 'nowhere/none.ilu' not found" in stderr
    assert 'use "nowhere/none.ilu"' in stderr
    status, _, stderr = run_image(driver_image, ["--main", "tree"])
    assert status == 2 and "usage" in stderr


def test_builder_surface(tmp_path: Path) -> None:
    """ilu.lower / layout / jmp16 / build and mcde on hand-made instruction lists."""
    prog = tmp_path / "surface.ilu"
    prog.write_text(
        "use ilu\n"
        "ins = [{op: \"PUSH_TRU\", args: [], line: 1}, {op: \"JUMP_UNLESS\", args: [0], line: 1},\n"
        "       {op: \"PUSH_CONST\", args: [0], line: 2}, {op: \"RET\", args: [], line: 2},\n"
        "       {op: \"FOR_NEXT\", args: [3, 0], line: 3}, {op: \"SYSCALL\", args: [1, 2], line: 3}]\n"
        "prn ilu.layout(ins), ilu.ilula(ins)\n"
        "ilu.jmp16(ins, 1, 3)\n"
        "ilu.ilujmp(ins, 4, 0)\n"
        "prn ins[1].args, ins[4].args\n"
        "prn __buf_hex(ilu.lower(ins[1])), __buf_hex(ilu.ilulo(ins[4])), __buf_hex(ilu.lower(ins[5]))\n"
        "p = ilu.build(ins, [1], [\"a\", \"b\"], [])\n"
        "prn keys(p), len(ilu.ilubld(ins, [1], [\"a\", \"b\"], []).cd)\n"
        "prn try(\\() ilu.build(ins, [], [\"a\"], [])).err\n"
        "prn try(\\() ilu.build([{op: \"NOPE\", args: []}], [], [], [])).err\n",
        encoding="utf-8")
    status, out, err = run_image(ilbc.read(ilbc.write(driver.compile_file(prog))), [])
    assert status == 0, err
    assert out.splitlines() == [
        "17 17",
        "[3] [3, -13]",
        "320300 3b0300f3ff f0010002",
        "[\"cd\", \"cs\", \"nm\", \"df\"] 6",
        "PUSH_CONST 0: index out of range of cs (0)",
        "unknown opcode NOPE",
    ]


def test_operand_too_large_is_a_whole_program_compile_error(tmp_path: Path) -> None:
    """An operand past u32 is the seed's compile error at 1:1, with no source line (emit.py emit);
    one past u16 marks the instruction wide (`w`).

    A real program would need 2**32 constants, so the check is made on the
    emitters themselves, through the pipeline's guard.
    """
    prog = tmp_path / "too_large.ilu"
    prog.write_text(
        "use compiler\n"
        "use compile_pipeline\n"
        "fc = {b: compiler.new_fnb()}\n"
        "e = compile_pipeline.guard(\\() compiler.e1(fc, \"PUSH_CONST\", 4294967296))\n"
        "prn e.err, e.kind, e.line, e.col, e.src\n"
        "e = compile_pipeline.guard(\\() compiler.emit(fc.b, \"SYSCALL\", [4294967296, 1]))\n"
        "prn e.err\n"
        "prn compiler.e1(fc, \"LOAD_LOCAL\", 65535), compiler.emit(fc.b, \"SYSCALL\", [65536, 1])\n"
        "prn fc.b.ins[0].w, fc.b.ins[1].w\n",
        encoding="utf-8")
    status, out, err = run_image(ilbc.read(ilbc.write(driver.compile_file(prog))), [])
    assert status == 0, err
    assert out.splitlines() == [
        "program too large: PUSH_CONST operand 4294967296 does not fit in u32 error 1 1 nil",
        "program too large: SYSCALL operand 4294967296 does not fit in u32",
        "0 1",
        "nil tru",
    ]
    for value in (4294967296, -1):
        with pytest.raises(OverflowError, match="does not fit in u32"):
            FnBuilder().emit("PUSH_CONST", value)
