"""The full-source bootstrap: stage1 | stage2 | stage3 | all | reseed.

stage1: the seed compiler (Python) compiles lib/ into build/stage1.ilbc, and
        tests/smoke_vm.ilu runs on the stage-0 VM.
stage2: build/stage1.ilbc, on the stage-0 VM, compiles lib/ into
        build/stage2.ilbc; that image compiles lib/ again into
        build/stage2b.ilbc; the two must be byte-identical (the fixed point)
        and equal to the committed ilusm.ilbc; tests/core.ilu then runs.
stage3: build/stage2.ilbc, running on the self-hosted VM (lib/backend/ilusm_vm.ilu,
        itself on the fast tier), compiles lib/ into build/stage3.ilbc, which must
        equal stage 2; then tests/smoke_vm.ilu and tests/core.ilu run on the
        self-hosted VM, and smoke_vm.ilu once more on the VM running on the VM.
reseed: rewrite ilusm.ilbc from a reached fixed point (commit it alone).

Every step prints its wall time; every image its size and sha256. Any
mismatch prints an ILBC-aware diff and exits non-zero.
"""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Callable

import click

from stage0.paths import COMMITTED_IMAGE, MAIN_MODULE, ROOT

BUILD = ROOT / "build"
LIB = ROOT / "lib"


def sha256(data: bytes) -> str:
    """Hex digest of data."""
    return hashlib.sha256(data).hexdigest()


def step(title: str, fn: Callable[[], object]) -> object:
    """Run one step, printing its title and wall time."""
    click.echo(f"  {title} ...", nl=False)
    t0 = time.perf_counter()
    result = fn()
    click.echo(f" {time.perf_counter() - t0:.2f}s")
    return result


def report(path: Path) -> None:
    """Print an image's size and sha256."""
    data = path.read_bytes()
    click.echo(f"  {path.relative_to(ROOT)}: {len(data)} bytes, sha256 {sha256(data)}")


def run_smoke(engine: str = "fast") -> None:
    """Run tests/smoke_vm.ilu on an engine; exit non-zero if it fails."""
    from stage0.toolchain.engines import execute
    from stage0.toolchain.programs import load_program

    image, _ = load_program(str(ROOT / "tests" / "smoke_vm.ilu"), "seed")
    status = execute(image, [], 10_000, engine=engine)
    if status != 0:
        raise SystemExit(f"smoke test failed with status {status}")


def do_stage1() -> Path:
    """The seed compiler compiles lib/ into build/stage1.ilbc."""
    from stage0.image import ilbc
    from stage0.seedc.driver import compile_tree

    click.echo("stage1: seed compiler (Python) compiles lib/")
    BUILD.mkdir(exist_ok=True)
    main = MAIN_MODULE if (LIB / MAIN_MODULE).is_file() else None
    image = step("compile lib/", lambda: compile_tree(LIB, main))
    out = BUILD / "stage1.ilbc"
    data = ilbc.write(image)  # type: ignore[arg-type]
    step("verify image", lambda: ilbc.read(data))
    out.write_bytes(data)
    report(out)
    step("smoke test tests/smoke_vm.ilu on the stage-0 VM", run_smoke)
    return out


@click.group()
def cli() -> None:
    """Rebuild the ilusm toolchain from source, trusting only Python."""


@cli.command()
def stage1() -> None:
    """Seed compiler builds build/stage1.ilbc; smoke test on stage 0."""
    guarded(do_stage1)


def self_compile(compiler: Path, out: Path, engine: str = "ref") -> bytes:
    """Run the toolchain image `compiler` on an engine to compile lib/ into `out`."""
    from stage0.image import ilbc
    from stage0.toolchain.selfhost import Toolchain

    data = Toolchain(compiler.read_bytes(), engine=engine).compile_tree(LIB, MAIN_MODULE)
    ilbc.read(data)
    out.write_bytes(data)
    return data


def must_match(a: Path, b: Path, hint: str = "") -> None:
    """Exit non-zero with an ILBC-aware diff unless two images are byte-identical."""
    from stage0.image.diff import explain

    why = explain(a.read_bytes(), b.read_bytes(), str(a.name), str(b.name))
    if why:
        click.echo(f"MISMATCH: {a.name} and {b.name} differ\n{why}", err=True)
        if hint:
            click.echo(hint, err=True)
        raise SystemExit(1)


def run_core(image_path: Path, engine: str = "ref") -> None:
    """tests/core.ilu, compiled by the fixed-point toolchain, on an engine."""
    from stage0.image import ilbc
    from stage0.toolchain.engines import execute
    from stage0.toolchain.selfhost import Toolchain

    data = Toolchain(image_path.read_bytes(), engine="ref").compile_file(ROOT / "tests" / "core.ilu")
    if execute(ilbc.read(data), [], 10_000, engine=engine) != 0:
        raise SystemExit("tests/core.ilu failed")


def reach_fixed_point() -> Path:
    """stage1, then two self-compiles that must agree; returns build/stage2.ilbc."""
    s1 = do_stage1()
    click.echo("stage2: the self-hosted compiler compiles lib/ on the stage-0 VM")
    s2, s2b = BUILD / "stage2.ilbc", BUILD / "stage2b.ilbc"
    step("stage1.ilbc compiles lib/ -> stage2.ilbc", lambda: self_compile(s1, s2))
    report(s2)
    step("stage2.ilbc compiles lib/ -> stage2b.ilbc", lambda: self_compile(s2, s2b))
    report(s2b)
    must_match(s2, s2b)
    click.echo("  fixed point reached")
    return s2


def do_stage2() -> Path:
    """The fixed point, checked against the committed image, then tests/core.ilu."""
    s2 = reach_fixed_point()
    committed = COMMITTED_IMAGE
    if not committed.is_file():
        raise SystemExit("ilusm.ilbc is missing: run `python bootstrap.py reseed` and commit it")
    must_match(s2, committed, "the committed ilusm.ilbc is stale: if the change is intended, "
                              "run `python bootstrap.py reseed` and commit ilusm.ilbc on its own")
    click.echo("  fixed point equals the committed ilusm.ilbc")
    step("tests/core.ilu on the stage-0 VM", lambda: run_core(s2))
    return s2


@cli.command()
def stage2() -> None:
    """Self-hosted compiler reaches a byte-identical fixed point equal to ilusm.ilbc."""
    t0 = time.perf_counter()
    guarded(do_stage2)
    click.echo(f"stage2 passed in {time.perf_counter() - t0:.2f}s")


@cli.command()
def reseed() -> None:
    """Rewrite ilusm.ilbc from a freshly reached fixed point."""

    def go() -> None:
        s2 = reach_fixed_point()
        COMMITTED_IMAGE.write_bytes(s2.read_bytes())
        report(COMMITTED_IMAGE)
        click.echo("  ilusm.ilbc rewritten: commit it on its own")

    guarded(go)


def run_vm_on_vm() -> None:
    """tests/smoke_vm.ilu on the self-hosted VM, which itself runs on the self-hosted VM."""
    from stage0.image import ilbc
    from stage0.paths import lib_root
    from stage0.toolchain.programs import load_program
    from stage0.toolchain.selfvm import VM_MODULE, SelfHostedVM, vm_image

    smoke, _ = load_program(str(ROOT / "tests" / "smoke_vm.ilu"), "seed")
    outer = SelfHostedVM(vm_image(str(lib_root() / VM_MODULE)), max_depth=50_000)
    inner = outer.run_main()
    outer.call(inner["run_image"], [bytearray(ilbc.write(smoke)), 10_000])


def do_stage3() -> None:
    """Stage 2, then the stage-2 image compiles lib/ on the self-hosted VM to the same bytes."""
    s2 = do_stage2()
    click.echo("stage3: the stage-2 image compiles lib/ on the self-hosted VM (on the fast tier)")
    s3 = BUILD / "stage3.ilbc"
    step("stage2.ilbc on ilusm_vm.ilu compiles lib/ -> stage3.ilbc", lambda: self_compile(s2, s3, "vm"))
    report(s3)
    must_match(s2, s3)
    click.echo("  fixed point reached on the self-hosted VM")
    step("tests/smoke_vm.ilu on the self-hosted VM", lambda: run_smoke("vm"))
    step("tests/core.ilu on the self-hosted VM", lambda: run_core(s2, "vm"))
    step("tests/smoke_vm.ilu on the self-hosted VM on the self-hosted VM", run_vm_on_vm)


@cli.command()
def stage3() -> None:
    """Stage 2, then ilusm compiling ilusm on the self-hosted VM: the same bytes again."""
    t0 = time.perf_counter()
    guarded(do_stage3)
    click.echo(f"stage3 passed in {time.perf_counter() - t0:.2f}s")


@cli.command(name="all")
def all_() -> None:
    """Every stage: stage1, stage2 and stage3."""
    t0 = time.perf_counter()
    guarded(do_stage3)
    click.echo(f"bootstrap: stage1, stage2 and stage3 passed in {time.perf_counter() - t0:.2f}s")


def guarded(fn: Callable[[], object]) -> None:
    """Run a stage; compile and runtime errors end the bootstrap with their status."""
    from stage0.errors import IlusmError

    try:
        fn()
    except IlusmError as e:
        click.echo("", err=True)
        click.echo(e.render(), err=True)
        raise SystemExit(e.exit_code) from None


if __name__ == "__main__":
    cli()
