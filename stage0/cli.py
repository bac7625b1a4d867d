"""The `ilusm` command: run, compile, dis, repl (also `python -m stage0`).

Errors are printed once, in the contract's format, and set the exit status:
65 for compile errors, 70 for runtime errors, 2 for usage errors, 1 for a
bad image. A Python traceback reaching a user is a bug; `main` turns any
that escapes into a one-line internal error.
"""
from __future__ import annotations

import ctypes
import io
import os
import stat
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import click

from stage0 import __version__, ilbc
from stage0.errors import (
    EXIT_INTERRUPTED,
    EXIT_RUNTIME,
    CompileError,
    IlusmError,
    ImageError,
    OutputError,
    RuntimeErr,
    UsageError,
)
from stage0.image import Image

EXAMPLES = """\b
Examples:
  ilusm hello.ilu                  run a program (short for `ilusm run hello.ilu`)
  ilusm prog.ilu a b               run with arguments (__sys_args())
  ilusm ./run                      run a file named like a command
  ilusm run - < prog.ilu           read the program from standard input (<stdin>)
  ilusm -e 'prn 1 + 2' a b         run a snippet (<string>) with arguments
  ilusm run --engine ref prog.ilu  run on the reference interpreter
  ilusm run --trace prog.ilu       print each instruction at its `dis` offset
  ilusm run --dump-ast prog.ilu    show the parse tree instead of running
  ilusm compile prog.ilu -o p.ilbc compile to an ILBC image
  ilusm p.ilbc                     run an image
  ilusm dis prog.ilu               disassemble (source or image)
  ilusm repl                       interactive session
"""

STACK_BYTES = 512 * 1024 * 1024
# Python frames the big stack holds while compiling: a 1,000,000-term `1+1+...`
# chain compiles with either compiler (the user program's limit is set later).
COMPILE_RECURSION = 4_000_000
MAX_DEPTH_LIMIT = 10_000_000


def in_big_stack(fn: Callable[[], int]) -> int:
    """Run fn in a thread with a large C stack, so deep host recursion cannot crash.

    Ctrl-C reaches the main thread, which passes it on to the worker as a
    KeyboardInterrupt (`guarded` turns that into exit 130); a second Ctrl-C
    quits at once.
    """
    result: list[Any] = [EXIT_RUNTIME]
    done = threading.Event()

    def target() -> None:
        try:
            result[0] = guarded(fn)
        finally:
            done.set()

    sys.setrecursionlimit(max(sys.getrecursionlimit(), COMPILE_RECURSION))
    old = threading.stack_size(STACK_BYTES)
    try:
        t = threading.Thread(target=target, name="ilusm", daemon=True)
        t.start()
    finally:
        threading.stack_size(old)
    # Wait on an Event, not Thread.join: on Python 3.11 a Ctrl-C inside join()
    # marks the still-running thread as stopped (bpo-45274's handler).
    try:
        done.wait()
    except KeyboardInterrupt:
        interrupt(t)
        try:
            done.wait()
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr)
            os._exit(EXIT_INTERRUPTED)
    return int(result[0])


def interrupt(t: threading.Thread) -> None:
    """Raise KeyboardInterrupt in thread t at its next Python instruction."""
    if t.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(KeyboardInterrupt))


def guarded(fn: Callable[[], int], err: Optional[TextIO] = None) -> int:
    """Call fn, printing IlusmErrors in the contract's format; returns the exit status."""
    err = err or sys.stderr
    try:
        return fn()
    except IlusmError as e:
        flush_quietly()
        print(e.render(), file=err)
        return e.exit_code
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 0
    except KeyboardInterrupt:
        print("error: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`ilusm run p.ilu | head`): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        return 141
    except Exception as e:  # a host bug: still no traceback for the user
        print(f"error: internal error: {type(e).__name__}: {e}", file=err)
        return EXIT_RUNTIME


def flush_quietly() -> None:
    """Flush standard output before an error message; a failure here is not news."""
    try:
        sys.stdout.flush()
    except (IlusmError, OSError):
        pass


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
    """The path of an input file that exists and is a regular file with a UTF-8 name."""
    if not file:
        raise UsageError("no file given")
    path = Path(file)
    if path.is_dir():
        raise UsageError(f"{file} is a directory, not a program")
    if not path.exists():
        if file.startswith("-"):
            raise UsageError(f"no such option: {file} (see --help)")
        raise UsageError(f"no such file: {file}")
    if not path.is_file():
        raise UsageError(f"{file} is not a regular file")
    try:
        str(path.resolve()).encode("utf-8")
    except UnicodeEncodeError:
        # Module keys and traces are UTF-8 text in the image; such a name has no spelling there.
        raise UsageError(f"file name is not valid UTF-8: {file.encode('utf-8', 'surrogateescape')!r}") from None
    return path


def read_image(path: Path) -> bytes:
    """The bytes of an image file; an unreadable one is a bad-image error (exit 1)."""
    try:
        return path.read_bytes()
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror}") from None


def check_output(out: Path, source: Path, force: bool) -> None:
    """Refuse an output path that would destroy something the user wrote."""
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a directory")
    if out.exists() and out.resolve() == source.resolve():
        raise UsageError(f"refusing to overwrite {out}: it is the source file")
    if out.is_file() and not force and not is_image(out):
        raise UsageError(f"refusing to overwrite {out}: it is not an ILBC image (use --force)")


def write_output(out: Path, data: bytes) -> None:
    """Write an output file whole or not at all (a temporary file, then a rename).

    A symbolic link is written through to its target; a device or pipe
    (`-o /dev/null`) is written to directly, since renaming over it would
    replace the device node.
    """
    target = out.resolve() if out.is_symlink() else out
    try:
        if target.exists() and not stat.S_ISREG(target.stat().st_mode):
            with open(target, "wb") as f:
                f.write(data)
            return
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {e.strerror}") from None


def _umask() -> int:
    """The process umask (mkstemp creates files 0600; an image should get the usual mode)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_program(file: str, compiler: str) -> tuple[Image, dict[str, str]]:
    """An image from an `.ilbc` file or compiled from source, checked by the reader."""
    path = need_file(file)
    if path.suffix == ".ilbc" or is_image(path):
        return ilbc.read(read_image(path)), {}
    image, sources = compile_source(path, compiler)
    # What runs is exactly what `compile` would write, read back and verified.
    return ilbc.read(ilbc.write(image)), sources


# The names errors and traces give a program read from standard input or the command line.
STDIN_NAME, STRING_NAME = "<stdin>", "<string>"


def origin_of(file: str) -> Optional[Path]:
    """The source file a program named `file` is compiled from; None for an image."""
    path = Path(file)
    return None if path.suffix == ".ilbc" or is_image(path) else path


def load_entry(file: str, code: Optional[str], compiler: str) -> tuple[Image, dict[str, str], Optional[Path]]:
    """The image, sources and origin of what `run` runs: FILE, `-` (standard input) or `-e CODE`.

    Text from standard input or the command line is compiled by the seed
    compiler (the self-hosted one reads files; both give the same bytes) as
    if it were a file `<stdin>` or `<string>` in the working folder, so
    `use "x.ilu"` looks there.
    """
    if code is None and file != "-":
        image, sources = load_program(file, compiler)
        return image, sources, origin_of(file)
    from stage0.seedc.driver import compile_with_sources

    path = Path.cwd() / (STRING_NAME if code is not None else STDIN_NAME)
    text = source_text(code, path.name) if code is not None else source_text(read_stdin(), path.name)
    image, sources = compile_with_sources(path, source=text)
    return ilbc.read(ilbc.write(image)), sources, path


def read_stdin() -> bytes:
    """All of standard input as bytes (the program text of `ilusm run -`)."""
    stream = getattr(sys.stdin, "buffer", None)
    try:
        if stream is None:  # a replaced stdin (tests) that holds text
            return (sys.stdin.read() if sys.stdin else "").encode("utf-8", "surrogateescape")
        return stream.read()
    except OSError as e:
        raise UsageError(f"cannot read standard input: {e.strerror or e}") from None


def source_text(data: bytes | str, name: str) -> str:
    """Program text from bytes or an argument; bytes that are not UTF-8 are a compile error, as in a file."""
    try:
        raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as e:
        raise CompileError(f"file is not valid UTF-8 (byte {e.start})", name, 1, 1, None, kind="error") from None


ENGINES = ("ref", "fast")


def execute(image: Image, args: list[str], max_depth: int, trace: bool = False,
            out: Optional[TextIO] = None, engine: str = "fast", origin: Optional[Path] = None) -> int:
    """Run an image's entry module; returns the exit status.

    engine "ref" is the reference interpreter, "fast" the fast host tier
    (stage0/fast.py); `trace` always runs the reference interpreter.
    origin is the source file the image was compiled from: a runtime error's
    trace then names files as compile errors do (see `placer`).
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
    except RuntimeErr as e:
        if origin is not None:
            e.place = placer(origin)
        raise
    finally:
        (out or sys.stdout).flush()
    return 0


def placer(origin: Path) -> Callable[[str], str]:
    """How a trace shows a module name recorded in an image compiled from origin.

    The image records names relative to the entry file's folder (so it is the
    same wherever it is built); a user reads them, like compile errors, as the
    path from the working folder (absolute when not below it). Names of the
    library (`lib/...` found in the lib folder) stay as recorded.
    """
    from stage0.seedc.driver import display, lib_root

    base = origin.resolve().parent

    def place(name: str) -> str:
        if name.startswith("lib/") and (lib_root() / name[4:]).is_file():
            return name
        return display((base / name).resolve())  # resolved, as the loader names files in compile errors

    return place


def run_file(file: str, args: list[str], out: TextIO, err: TextIO, compiler: str = "self",
             max_depth: Optional[int] = None, engine: str = "fast") -> int:
    """Compile (if needed) and run a program, writing to out/err; returns the exit status.

    This is `ilusm run` without the process around it, for tests and tools.
    """

    def go() -> int:
        image, _ = load_program(file, compiler)
        return execute(image, args, max_depth or default_depth(), out=out, engine=engine, origin=origin_of(file))

    return in_big_stack(lambda: guarded(go, err))


def default_depth() -> int:
    """The recursion limit: ILUSM_MAX_DEPTH or the VM default; a bad value is a usage error."""
    from stage0.vm import DEFAULT_MAX_DEPTH

    raw = os.environ.get("ILUSM_MAX_DEPTH")
    if raw is None or raw == "":
        return DEFAULT_MAX_DEPTH
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_DEPTH_LIMIT:
        raise UsageError(f"ILUSM_MAX_DEPTH must be a whole number from 1 to {MAX_DEPTH_LIMIT:,}, not {raw!r}")
    return int(raw)


compiler_option = click.option("--compiler", type=click.Choice(["seed", "self"]), default="self",
                               show_default=True,
                               help="self: the compiler written in ilusm (ilusm.ilbc); seed: the Python one.")


class FileFirst(click.Group):
    """The command group; a first word that is not a command means `run`.

    `ilusm prog.ilu a b` is `ilusm run prog.ilu a b` and `ilusm -e CODE` is
    `ilusm run -e CODE`, as with python, node and lua. A command's name
    wins over a file of that name: `ilusm ./run` runs a file called `run`.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """Put `run` in front of arguments that do not start with a command or a group option."""
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help", "--version"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=FileFirst, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="ilusm")
def cli() -> None:
    """ilusm: a small self-hosting language on a thin Python host.

    `ilusm FILE [ARGS]...` is short for `ilusm run FILE [ARGS]...`.
    """


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("file", required=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("-e", "--eval", "code", metavar="CODE", default=None,
              help=f"Run CODE instead of a file (named {STRING_NAME} in errors); FILE and ARGS are then all ARGS.")
@compiler_option
@click.option("--max-depth", type=click.IntRange(1, MAX_DEPTH_LIMIT), default=None,
              help="Recursion limit (default 10000, or ILUSM_MAX_DEPTH).")
@click.option("--trace", is_flag=True,
              help="Print each executed instruction to stderr, at its byte offset as `ilusm dis` shows it "
                   "(runs on --engine ref).")
@click.option("--engine", type=click.Choice(ENGINES), default=None,
              help="ref: the reference interpreter; fast (the default): functions translated to Python code.")
@click.option("--dump-tokens", is_flag=True, help="Print the tokens and stop.")
@click.option("--dump-ast", is_flag=True, help="Print the syntax tree and stop.")
@click.option("--dump-ilbc", is_flag=True, help="Print the disassembled image and stop.")
def run(file: Optional[str], args: tuple[str, ...], code: Optional[str], compiler: str, max_depth: Optional[int],
        trace: bool, engine: Optional[str], dump_tokens: bool, dump_ast: bool, dump_ilbc: bool) -> None:
    """Run FILE (.ilu source or .ilbc image) with ARGS; FILE `-` reads the program from standard input."""
    if code is not None:
        args = ((file,) if file is not None else ()) + args
        file = STRING_NAME

    def go() -> int:
        if file is None:
            raise UsageError("no file given (see --help)")
        if trace and engine == "fast":  # the fast tier runs Python code, not instructions
            raise UsageError("--trace runs on the reference interpreter; it cannot be used with --engine fast")
        if dump_tokens or dump_ast:
            return dump_front(file, code, dump_tokens)
        image, sources, origin = load_entry(file, code, compiler)
        if dump_ilbc:
            from stage0.dis import disassemble

            click.echo(disassemble(image, sources), nl=False)
            return 0
        return execute(image, list(args), max_depth or default_depth(), trace,
                       engine=engine or ("ref" if trace else "fast"), origin=origin)

    sys.exit(in_big_stack(go))


def dump_front(file: str, code: Optional[str], tokens: bool) -> int:
    """`--dump-tokens` / `--dump-ast` for a source file, standard input or `-e CODE`."""
    from stage0.seedc.driver import read_source
    from stage0.seedc.lexer import dump_tokens, tokenize
    from stage0.seedc.parser import parse

    if code is not None:
        source = source_text(code, file)
    elif file == "-":
        file = STDIN_NAME
        source = source_text(read_stdin(), file)
    elif is_image(need_file(file)):
        raise UsageError(f"{'--dump-tokens' if tokens else '--dump-ast'} needs a source file; {file} is an ILBC image")
    else:
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
        check_output(out, need_file(file), force)
        image, _ = load_program(file, compiler)
        write_output(out, ilbc.write(image))
        return 0

    sys.exit(in_big_stack(go))


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

    sys.exit(in_big_stack(go))


@cli.command()
@click.option("--max-depth", type=click.IntRange(1, MAX_DEPTH_LIMIT), default=None,
              help="Recursion limit (default 10000, or ILUSM_MAX_DEPTH).")
def repl(max_depth: Optional[int]) -> None:
    """Interactive session: blocks and `if` go on until a blank line.

    On a terminal errors do not end it; with piped input the first failing
    entry ends it with that entry's exit status.
    """
    from stage0.repl import Repl

    sys.exit(guarded(lambda: Repl(max_depth or default_depth()).loop()))


class CheckedOut(io.TextIOBase):
    """Standard output, always UTF-8, whose write failures are OutputErrors.

    A full disk or a closed descriptor then ends the program with one line
    and exit 70; a reader that went away still raises BrokenPipeError, which
    `guarded` turns into a quiet exit.
    """

    def __init__(self, stream: Optional[TextIO]) -> None:
        super().__init__()
        self.stream = stream

    def write(self, text: str) -> int:
        """Write text, or raise OutputError."""
        return self._do(lambda s: s.write(text))

    def flush(self) -> None:
        """Flush, or raise OutputError (a closed stream has nothing to flush)."""
        if self.stream is not None:
            self._do(lambda s: s.flush())

    def close(self) -> None:
        """Nothing to release; a failed final flush was already reported."""

    def writable(self) -> bool:
        """Always: failures show at write time."""
        return True

    @property
    def encoding(self) -> Optional[str]:  # type: ignore[override]
        """The real stream's encoding (UTF-8 after `utf8_streams`).

        `input()` uses readline (line editing, history) only when standard
        output reports a text encoding; TextIOBase's own is None.
        """
        return getattr(self.stream, "encoding", None)

    @property
    def errors(self) -> Optional[str]:  # type: ignore[override]
        """The real stream's error handler, which `input()` also needs."""
        return getattr(self.stream, "errors", None)

    def isatty(self) -> bool:
        """Whether the real stream is a terminal."""
        return self.stream is not None and self.stream.isatty()

    def fileno(self) -> int:
        """The real stream's descriptor."""
        if self.stream is None:
            raise OSError("standard output is closed")
        return self.stream.fileno()

    def _do(self, op: Callable[[TextIO], Any]) -> Any:
        if self.stream is None:
            raise OutputError("it is closed")
        try:
            return op(self.stream)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None


def utf8_streams() -> None:
    """Make standard output and error UTF-8 whatever the locale (output is deterministic)."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, io.TextIOWrapper):
            # surrogateescape: a file name or argument that was not UTF-8 prints as its own bytes.
            stream.reconfigure(encoding="utf-8", errors="backslashreplace" if name == "stderr" else "surrogateescape")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")
    sys.stdout = CheckedOut(sys.stdout)


def main() -> None:
    """Console-script entry point."""
    utf8_streams()
    try:
        cli(prog_name="ilusm")
    except IlusmError as e:  # --help or --version could not be written
        print(e.render(), file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
