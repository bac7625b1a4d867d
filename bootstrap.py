"""The full-source bootstrap: stage1 | stage2 | stage3 | all | verify | reseed.

stage1: the seed compiler (Python) compiles lib/ into build/stage1.ilbc, and
        tests/smoke_vm.ilu runs on the stage-0 VM.
stage2, stage3: the self-hosted stages (see docs/bootstrap.md).

Every step prints its wall time; every image its size and sha256.
"""
from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path
from typing import Callable

import click

ROOT = Path(__file__).resolve().parent
BUILD = ROOT / "build"
LIB = ROOT / "lib"
MAIN_MODULE = "backend/compile_pipeline.ilu"


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


def run_smoke(image_path: Path) -> None:
    """Run tests/smoke_vm.ilu on the stage-0 VM; exit non-zero if it fails."""
    from stage0.cli import execute, load_program

    image, _ = load_program(str(ROOT / "tests" / "smoke_vm.ilu"), "seed")
    status = execute(image, [], 10_000)
    if status != 0:
        raise SystemExit(f"smoke test failed with status {status}")


def do_stage1() -> Path:
    """The seed compiler compiles lib/ into build/stage1.ilbc."""
    from stage0 import ilbc
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
    step("smoke test tests/smoke_vm.ilu on the stage-0 VM", lambda: run_smoke(out))
    return out


@click.group()
def cli() -> None:
    """Rebuild the ilusm toolchain from source, trusting only Python."""
    sys.path.insert(0, str(ROOT))


@cli.command()
def stage1() -> None:
    """Seed compiler builds build/stage1.ilbc; smoke test on stage 0."""
    guarded(do_stage1)


@cli.command()
def stage2() -> None:
    """Self-hosted compiler reaches a fixed point (not yet available)."""
    raise SystemExit("stage2 comes with the self-hosting issue: lib/ has no self-hosted compiler yet")


@cli.command()
def stage3() -> None:
    """ilusm compiling ilusm on the self-hosted VM (not yet available)."""
    raise SystemExit("stage3 comes with the self-hosted VM: not available yet")


@cli.command(name="all")
def all_() -> None:
    """Every stage available so far."""
    t0 = time.perf_counter()
    guarded(do_stage1)
    click.echo(f"bootstrap: stages available so far passed in {time.perf_counter() - t0:.2f}s "
               "(stage2/stage3 come with the self-hosting issue)")


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
