"""The `ilusm` command: run, compile, dis, repl (also `python -m stage0`).

Errors are printed once, in the contract's format, and set the exit status:
65 for compile errors, 70 for runtime errors, 2 for usage errors, 1 for a
bad image. A Python traceback reaching a user is a bug; `main` turns any
that escapes into a one-line internal error.
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Optional, TextIO

import click

from stage0 import __version__
from stage0.cli.proc import guarded, in_big_stack, utf8_streams
from stage0.errors import (
    IlusmError,
    RuntimeErr,
    UsageError,
)
from stage0.host.caps import Policy, policy
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.toolchain.engines import ENGINES, execute
from stage0.toolchain.programs import (
    STDIN_NAME,
    STRING_NAME,
    is_image,
    load_entry,
    load_program,
    need_file,
    origin_of,
    read_stdin,
    source_text,
)

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
  ilusm run --caps io,fs:ro p.ilu  run holding only these capabilities
  ilusm run --allow ffi p.ilu      grant more than the default set
  ilusm audit p.ilu                which capabilities each module declares and uses
  ilusm test                       run the tests under the working folder
  ilusm doc txt.spl                the documentation of a module or a function
  ilusm fmt --check lib/           is every file in the canonical layout?
"""

MAX_DEPTH_LIMIT = 10_000_000


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


def run_file(file: str, args: list[str], out: TextIO, err: TextIO, compiler: str = "self",
             max_depth: Optional[int] = None, engine: str = "fast", grant: Optional[Policy] = None) -> int:
    """Compile (if needed) and run a program, writing to out/err; returns the exit status.

    This is `ilusm run` without the process around it, for tests and tools: by default the
    program gets what `ilusm run` gives it (the default capabilities, files confined to the
    working folder).
    """

    def go() -> int:
        chosen = grant or policy()
        image, _ = load_program(file, compiler, chosen.fs_root)
        return execute(image, args, max_depth or default_depth(), out=out, engine=engine, origin=origin_of(file),
                       policy=chosen)

    return in_big_stack(lambda: guarded(go, err))


def default_depth() -> int:
    """The recursion limit: ILUSM_MAX_DEPTH or the VM default; a bad value is a usage error."""
    from stage0.interp.vm import DEFAULT_MAX_DEPTH

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
              help="ref: the reference interpreter; fast (the default): functions translated to Python code; "
                   "vm: the self-hosted VM (lib/backend/ilusm_vm.ilu) running on the fast tier; "
                   "evl: the tree-walking evaluator (lib/runtime/evl.ilu), for source files.")
@click.option("--allow", multiple=True, metavar="CAPS",
              help="Grant capabilities beyond the default set (io, fs, net, proc, env, time), e.g. --allow ffi.")
@click.option("--deny", multiple=True, metavar="CAPS", help="Take capabilities away, e.g. --deny net,proc.")
@click.option("--caps", "exact", metavar="CAPS", default=None,
              help="The exact capability set, e.g. --caps io,fs:ro (io is always held).")
@click.option("--fs-root", metavar="DIR", default=None,
              help="Confine file builtins beneath DIR instead of the working folder; `/` lifts the sandbox.")
@click.option("--policy", "policy_file", metavar="FILE", default=None,
              help="Narrow the capabilities by a JSON policy file (evaluated by lib/stdlib/pol.ilu).")
@click.option("--pledge", is_flag=True,
              help="Have the kernel hold the program to its capabilities from the start (Linux: Landlock and "
                   "seccomp; a forbidden system call kills it with SIGSYS).")
@click.option("--trace-caps", is_flag=True, help="Report each capability's first use, and where, on stderr.")
@click.option("--locals", "show_locals", is_flag=True,
              help="An uncaught error's trace shows each frame's local variables (also ILUSM_TRACE_LOCALS=1).")
@click.option("--dump-tokens", is_flag=True, help="Print the tokens and stop.")
@click.option("--dump-ast", is_flag=True, help="Print the syntax tree and stop.")
@click.option("--dump-ilbc", is_flag=True, help="Print the disassembled image and stop.")
@click.option("--dump-py", is_flag=True, help="Print the Python code the fast tier makes of each function and stop.")
def run(file: Optional[str], args: tuple[str, ...], code: Optional[str], compiler: str, max_depth: Optional[int],
        trace: bool, engine: Optional[str], allow: tuple[str, ...], deny: tuple[str, ...], exact: Optional[str],
        fs_root: Optional[str], policy_file: Optional[str], pledge: bool, trace_caps: bool, show_locals: bool,
        dump_tokens: bool,
        dump_ast: bool, dump_ilbc: bool, dump_py: bool) -> None:
    """Run FILE (.ilu source or .ilbc image) with ARGS; FILE `-` reads the program from standard input.

    The program holds the default capabilities (every one but ffi) with files confined to
    the working folder; ILUSM_CAPS and ILUSM_FS_ROOT can narrow that further, never widen it.
    A compiled program is kept in ILUSM_PROGRAM_CACHE_DIR (~/.cache/ilusm-programs; off: none)
    and used again while the files it was compiled from are unchanged.
    """
    if code is not None:
        args = ((file,) if file is not None else ()) + args
        file = STRING_NAME

    def go() -> int:
        if file is None:
            raise UsageError("no file given (see --help)")
        grant = policy(allow, deny, exact, fs_root, pledge=pledge)
        if show_locals:
            os.environ["ILUSM_TRACE_LOCALS"] = "1"
        if policy_file is not None:
            from stage0.toolchain import policyfile

            grant = policyfile.apply(grant, policy_file, file)
        if trace and engine == "fast":  # the fast tier runs Python code, not instructions
            raise UsageError("--trace runs on the reference interpreter; it cannot be used with --engine fast")
        if dump_tokens or dump_ast:
            return dump_front(file, code, dump_tokens)
        image, sources, origin = load_entry(file, code, compiler, grant.fs_root)
        if dump_ilbc:
            from stage0.image.dis import disassemble

            click.echo(disassemble(image, sources), nl=False)
            return 0
        if dump_py:
            return dump_fast(image)
        return execute(image, list(args), max_depth or default_depth(), trace,
                       engine=engine or ("ref" if trace else "fast"), origin=origin, policy=grant,
                       cap_log={} if trace_caps else None)

    sys.exit(in_big_stack(go))


def dump_fast(image: Image) -> int:
    """`--dump-py`: the fast tier's translation of every function of the image, in image order (a
    function too long to translate says that it runs on the reference loop)."""
    from stage0.fast.vm import FastVM

    vm = FastVM(image)
    for p in vm.protos:
        text = vm.source(p) or f"# {p.name}: runs on the reference loop"
        click.echo(text.rstrip("\n") + "\n")
    return 0


def dump_front(file: str, code: Optional[str], tokens: bool) -> int:
    """`--dump-tokens` / `--dump-ast` for a source file, standard input or `-e CODE`."""
    from stage0.paths import read_source
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
        from stage0.syntax import dump

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
        from stage0.image.dis import disassemble

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
    from stage0.cli.repl import Repl

    sys.exit(guarded(lambda: Repl(max_depth or default_depth()).loop()))


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.argument("file")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--run", "run_it", is_flag=True,
              help="Also run the program (with ARGS) and report the capabilities it exercised.")
@compiler_option
def audit(file: str, args: tuple[str, ...], as_json: bool, run_it: bool, compiler: str) -> None:
    """Report, per module of FILE, the capabilities it declares, uses and (with --run) exercises.

    Exit status 0 when every use is declared, 1 when there is a problem.
    """
    from stage0.toolchain.audit import audit as audit_image
    from stage0.toolchain.audit import report_json, report_text

    def go() -> int:
        image, _ = load_program(file, compiler)
        log: Optional[dict[str, tuple[str, str]]] = None
        failed = None
        if run_it:
            log = {}
            try:
                execute(image, list(args), default_depth(), engine="fast", origin=origin_of(file), policy=policy(),
                        cap_log=log)
            except RuntimeErr as e:  # what the program reached before failing still counts
                failed = e.message
        data = audit_image(image, log)
        if failed is not None:
            data["run_error"] = failed
        click.echo((report_json if as_json else report_text)(data, file), nl=False)
        return 1 if data["problems"] else 0

    sys.exit(in_big_stack(go))


@cli.command(name="test")
@click.argument("paths", nargs=-1)
@click.option("-k", "pattern", metavar="TEXT", default=None, help="Run only the tests whose name holds TEXT.")
@click.option("--engine", type=click.Choice(ENGINES[:3]), default="fast", show_default=True,
              help="The engine the tests run on.")
@click.option("--fs-root", metavar="DIR", default=None,
              help="Confine each test's files and modules to DIR (`.`: the project) instead of its own folder.")
@compiler_option
def test_cmd(paths: tuple[str, ...], pattern: Optional[str], engine: str, fs_root: Optional[str],
             compiler: str) -> None:
    """Run a project's tests under PATHS (default: the working folder).

    Annotated programs (`# expect: ...` comments, as in tests/spec) run as `ilusm run` would,
    from their own folder; in files named test_*.ilu or *_test.ilu each function named test_* is
    a test that passes when it returns (use asr). Tests that `use "../module.ilu"` need
    `--fs-root .` (run from the project's folder). Exit status 1 when a test fails or none is found.
    """
    from stage0.toolchain.testrun import run_tests

    roots = [Path(p) for p in paths] or [Path(".")]
    missing = [str(p) for p in roots + ([Path(fs_root)] if fs_root else []) if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {missing[0]}")
    root = None if fs_root is None else str(Path(fs_root).resolve())
    sys.exit(run_tests(roots, engine, compiler, pattern, click.echo, root))


@cli.command(name="doc")
@click.argument("target")
def doc_cmd(target: str) -> None:
    """Show the documentation of MODULE or MODULE.NAME (a library module, or a .ilu file).

    It is the module's first comment block and, for each public function and value, its
    signature and the `#` comment above it.
    """
    from stage0.toolchain.doc import render

    def go() -> int:
        click.echo(render(target), nl=False)
        return 0

    sys.exit(in_big_stack(go))


@cli.command(name="fmt")
@click.option("--check", is_flag=True, help="Write nothing; name each file that would change and exit 1 if any would.")
@click.option("--diff", "show_diff", is_flag=True, help="Write nothing; print a unified diff of each change.")
@click.argument("paths", nargs=-1, required=True)
def fmt_cmd(check: bool, show_diff: bool, paths: tuple[str, ...]) -> None:
    """Lay out ilusm source in its one canonical layout, in place.

    PATHS are .ilu files or folders (every .ilu below them); `-` reads standard input and writes the
    result to standard output. Comments and blank lines between statements are kept, number and
    string literals keep their spelling, and a file is written only when its new text parses to the
    same tree. Files whose first line says `# GENERATED` are left to their generator.
    """
    from stage0.toolchain import fmt

    if "-" in paths:
        if len(paths) > 1:
            raise click.UsageError("`-` (standard input) cannot be mixed with files")
        sys.exit(in_big_stack(lambda: fmt.filter_stdin(sys.stdin.read, click.echo)))
    roots = [Path(p) for p in paths]
    missing = [str(p) for p in roots if not p.exists()]
    if missing:
        raise click.UsageError(f"no such file or folder: {missing[0]}")
    sys.exit(in_big_stack(lambda: fmt.run(roots, check, show_diff, click.echo)))


@cli.command()
def lsp() -> None:
    """Run the language server on standard input and output (for editors; see docs/editors.md)."""
    from stage0.cli.lsp import serve

    serve()


@cli.group()
def jit() -> None:
    """The tracing JIT: its native-code disk cache.

    The JIT is on in `ilusm run` unless ILUSM_JIT=off; ILUSM_JIT_THRESHOLD sets
    the back edges before a loop is compiled (1000); ILUSM_JIT_TYPE_SPEC=off makes
    every trace generic over kind tags; the cache lives in
    ILUSM_JIT_CACHE_DIR (~/.cache/ilusm-jit; off: none) under
    ILUSM_JIT_CACHE_MAX_BYTES (256m).
    """


@jit.command()
@click.argument("action", type=click.Choice(["stats", "clear"]), default="stats")
def cache(action: str) -> None:
    """Show the cache (stats) or remove its entries (clear)."""

    def go() -> int:
        from stage0.jit.cache import Cache, cap_from_env, folder_from_env

        folder = folder_from_env()
        if folder is None:
            click.echo("the JIT cache is off (ILUSM_JIT_CACHE_DIR=off)")
            return 0
        c = Cache(folder, cap_from_env())
        if action == "clear":
            click.echo(f"removed {c.clear()} entries from {folder}")
            return 0
        st = c.stats()
        cap = "no limit" if st["max_bytes"] is None else f"{st['max_bytes']:,} bytes"
        click.echo(f"dir: {st['dir']}\nentries: {st['entries']}\nbytes: {st['bytes']:,}\nmax: {cap}")
        return 0

    sys.exit(guarded(go))


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
