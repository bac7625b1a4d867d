"""The `ilusm` command: run, compile, dis, repl (also `python -m stage0`).

Errors are printed once, in the contract's format, and set the exit status:
65 for compile errors, 70 for runtime errors, 2 for usage errors, 1 for a
bad image. A Python traceback reaching a user is a bug; `main` turns any
that escapes into a one-line internal error.
"""
from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import click

from stage0 import __version__, ilbc
from stage0.errors import EXIT_RUNTIME, IlusmError, UsageError
from stage0.image import Image

EXAMPLES = """\b
Examples:
  ilusm run hello.ilu              run a program
  ilusm run prog.ilu a b           run with arguments (sys.args)
  ilusm run --dump-ast prog.ilu    show the parse tree instead of running
  ilusm compile prog.ilu -o p.ilbc compile to an ILBC image
  ilusm run p.ilbc                 run an image
  ilusm dis prog.ilu               disassemble (source or image)
  ilusm repl                       interactive session
"""

STACK_BYTES = 512 * 1024 * 1024


def in_big_stack(fn: Callable[[], int]) -> int:
    """Run fn in a thread with a large C stack, so deep host recursion cannot crash."""
    result: list[Any] = [EXIT_RUNTIME]

    def target() -> None:
        result[0] = guarded(fn)

    # Deeply nested source recurses in the parser: allow it, the big stack holds it.
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 50_000))
    old = threading.stack_size(STACK_BYTES)
    try:
        t = threading.Thread(target=target, name="ilusm")
        t.start()
        t.join()
    finally:
        threading.stack_size(old)
    return int(result[0])


def guarded(fn: Callable[[], int], err: Optional[TextIO] = None) -> int:
    """Call fn, printing IlusmErrors in the contract's format; returns the exit status."""
    err = err or sys.stderr
    try:
        return fn()
    except IlusmError as e:
        sys.stdout.flush()
        print(e.render(), file=err)
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return 130
    except BrokenPipeError:
        # The reader went away (`ilusm run p.ilu | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except Exception as e:  # a host bug: still no traceback for the user
        print(f"error: internal error: {type(e).__name__}: {e}", file=err)
        return EXIT_RUNTIME


def is_image(path: Path) -> bool:
    """True when the file starts with the ILBC magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ilbc.MAGIC
    except OSError:
        return False


def compile_source(path: Path, compiler: str) -> tuple[Image, dict[str, str]]:
    """Compile a source file with the chosen compiler (self: lib/ compiled by itself)."""
    if compiler == "self":
        from stage0.selfhost import default_toolchain, engine_for, sources_for

        image = ilbc.read(default_toolchain(engine_for(path)).compile_file(path))
        return image, sources_for(image, path)
    from stage0.seedc.driver import compile_with_sources

    return compile_with_sources(path)


def need_file(file: str) -> Path:
    """The path of an input file that exists and is not a directory."""
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{file} is a directory, not a program")
    if not path.is_file():
        raise UsageError(f"no such file: {file}")
    return path


def write_output(out: Path, data: bytes) -> None:
    """Write an output file whole or not at all (a temporary file, then a rename)."""
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory")
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {e.strerror}") from None


def load_program(file: str, compiler: str) -> tuple[Image, dict[str, str]]:
    """An image from an `.ilbc` file or compiled from source, checked by the reader."""
    path = need_file(file)
    if path.suffix == ".ilbc" or is_image(path):
        return ilbc.read(path.read_bytes()), {}
    image, sources = compile_source(path, compiler)
    # What runs is exactly what `compile` would write, read back and verified.
    return ilbc.read(ilbc.write(image)), sources


ENGINES = ("ref", "fast")


def execute(image: Image, args: list[str], max_depth: int, trace: bool = False,
            out: Optional[TextIO] = None, engine: str = "fast") -> int:
    """Run an image's entry module; returns the exit status.

    engine "ref" is the reference interpreter, "fast" the fast host tier
    (stage0/fast.py); `trace` always runs the reference interpreter.
    """
    from stage0.vm import VM

    if engine not in ENGINES:
        raise UsageError(f"unknown engine '{engine}' (choose from {', '.join(ENGINES)})")
    cls = VM
    if engine == "fast" and not trace:
        from stage0.fast import FastVM

        cls = FastVM
    sys.setrecursionlimit(max(20_000, max_depth * 4))
    vm = cls(image, args=args, max_depth=max_depth, trace=sys.stderr if trace else None, out=out)
    try:
        vm.run_main()
    finally:
        (out or sys.stdout).flush()
    return 0


def run_file(file: str, args: list[str], out: TextIO, err: TextIO, compiler: str = "self",
             max_depth: Optional[int] = None, engine: str = "fast") -> int:
    """Compile (if needed) and run a program, writing to out/err; returns the exit status.

    This is `ilusm run` without the process around it, for tests and tools.
    """

    def go() -> int:
        image, _ = load_program(file, compiler)
        return execute(image, args, max_depth or default_depth(), out=out, engine=engine)

    return in_big_stack(lambda: guarded(go, err))


def default_depth() -> int:
    """The recursion limit: ILUSM_MAX_DEPTH or the VM default."""
    from stage0.vm import DEFAULT_MAX_DEPTH

    raw = os.environ.get("ILUSM_MAX_DEPTH", "")
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_MAX_DEPTH


compiler_option = click.option("--compiler", type=click.Choice(["seed", "self"]), default="self",
                               show_default=True,
                               help="self: the compiler written in ilusm (ilusm.ilbc); seed: the Python one.")


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ilusm")
def cli() -> None:
    """ilusm: a small self-hosting language on a thin Python host."""


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("file")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@compiler_option
@click.option("--max-depth", type=click.IntRange(min=1), default=None, help="Recursion limit (default 10000).")
@click.option("--trace", is_flag=True, help="Print every executed instruction to stderr (implies --engine ref).")
@click.option("--engine", type=click.Choice(ENGINES), default="fast", show_default=True,
              help="ref: the reference interpreter; fast: functions translated to Python code.")
@click.option("--dump-tokens", is_flag=True, help="Print the tokens and stop.")
@click.option("--dump-ast", is_flag=True, help="Print the syntax tree and stop.")
@click.option("--dump-ilbc", is_flag=True, help="Print the disassembled image and stop.")
def run(file: str, args: tuple[str, ...], compiler: str, max_depth: Optional[int], trace: bool, engine: str,
        dump_tokens: bool, dump_ast: bool, dump_ilbc: bool) -> None:
    """Run FILE (.ilu source or .ilbc image) with ARGS."""

    def go() -> int:
        if dump_tokens or dump_ast:
            return dump_front(file, dump_tokens)
        image, sources = load_program(file, compiler)
        if dump_ilbc:
            from stage0.dis import disassemble

            click.echo(disassemble(image, sources), nl=False)
            return 0
        return execute(image, list(args), max_depth or default_depth(), trace, engine="ref" if trace else engine)

    sys.exit(in_big_stack(go))


def dump_front(file: str, tokens: bool) -> int:
    """`--dump-tokens` / `--dump-ast` for a source file."""
    from stage0.seedc.driver import read_source
    from stage0.seedc.lexer import dump_tokens, tokenize
    from stage0.seedc.parser import parse

    need_file(file)
    source = read_source(Path(file))
    if tokens:
        click.echo(dump_tokens(tokenize(source, file)))
    else:
        from stage0.seedc.ast import dump

        click.echo(dump(parse(source, file)))
    return 0


@cli.command()
@click.argument("file")
@click.option("-o", "--output", required=True, help="Where to write the ILBC image.")
@compiler_option
@click.option("--force", is_flag=True, help="Overwrite OUTPUT even if it is not an ILBC image.")
def compile(file: str, output: str, compiler: str, force: bool) -> None:
    """Compile FILE and everything it uses into one ILBC image."""

    def go() -> int:
        out = Path(output)
        if out.exists() and not force and not is_image(out):
            raise UsageError(f"refusing to overwrite {output}: it is not an ILBC image (use --force)")
        image, _ = load_program(file, compiler)
        write_output(out, ilbc.write(image))
        return 0

    sys.exit(guarded(go))


@cli.command()
@click.argument("file")
@compiler_option
def dis(file: str, compiler: str) -> None:
    """Disassemble FILE (source or image): one instruction a line."""

    def go() -> int:
        from stage0.dis import disassemble

        image, sources = load_program(file, compiler)
        click.echo(disassemble(image, sources), nl=False)
        return 0

    sys.exit(guarded(go))


@cli.command()
@click.option("--max-depth", type=click.IntRange(min=1), default=None, help="Recursion limit.")
def repl(max_depth: Optional[int]) -> None:
    """Interactive session: blocks continue until a blank line; errors do not end it."""
    from stage0.repl import Repl

    sys.exit(in_big_stack(lambda: Repl(max_depth or default_depth()).loop()))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="ilusm")


if __name__ == "__main__":
    main()
