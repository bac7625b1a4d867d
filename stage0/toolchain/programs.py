"""Programs as the toolchain sees them: an `.ilbc` image or a source file,
standard input or a snippet, compiled by the chosen compiler and read back
through the verifying reader.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from stage0.errors import ImageError, UsageError
from stage0.image import ilbc
from stage0.image.model import Image
from stage0.paths import decode_source


def is_image(path: Path) -> bool:
    """True when the file starts with the ILBC magic."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == ilbc.MAGIC
    except OSError:
        return False


def compile_source(path: Path, compiler: str, source: Optional[str] = None,
                   fs_root: Optional[str] = None) -> tuple[Image, dict[str, str]]:
    """Compile a source file with the chosen compiler (self: lib/ compiled by itself).

    What comes back is exactly what `compile` would write, read back: the
    reader decodes and verifies it, once (the loader keeps that analysis).
    With fs_root, the program's modules must lie beneath it, the entry file's folder or the
    library (`use "/etc/passwd"` is a compile error that shows nothing of that file).
    """
    from stage0.host.caps import module_roots

    extra = module_roots(fs_root, str(path)) if fs_root is not None else None
    if compiler == "self":
        from stage0.toolchain.selfhost import sources_for

        image = compile_self(path, fs_root, extra or ())
        return image, sources_for(image, path)
    from stage0.seedc.driver import compile_with_sources

    roots = None if fs_root is None or extra is None else (fs_root, *extra)
    image, sources = compile_with_sources(path, source=source, roots=roots)
    return ilbc.read(ilbc.write(image, verify=False)), sources


def compile_self(path: Path, fs_root: Optional[str], read_roots: tuple[str, ...]) -> Image:
    """A file compiled by the self-hosted toolchain, or the same image kept from an earlier
    process that compiled the same files (stage0/toolchain/progcache.py)."""
    from stage0.toolchain.progcache import Probes, program_cache
    from stage0.toolchain.selfhost import default_toolchain, engine_for, toolchain_env

    toolchain_env()
    cache = program_cache()
    key = cache.key(path, fs_root, read_roots) if cache is not None else None
    if cache is not None and key is not None:
        kept = cache.load(key, fs_root, read_roots)
        if kept is not None:
            return kept
    tc = default_toolchain(engine_for(path))
    probes = Probes()
    with tc.confined(fs_root, read_roots), tc.probing(probes):
        data = tc.compile_file(path)
    image = ilbc.read(data)
    if cache is not None and key is not None:
        cache.keep(key, probes, data)
    return image


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


def load_program(file: str, compiler: str, fs_root: Optional[str] = None) -> tuple[Image, dict[str, str]]:
    """An image from an `.ilbc` file or compiled from source (its modules beneath fs_root, when
    given), checked by the reader."""
    path = need_file(file)
    if path.suffix == ".ilbc" or is_image(path):
        return ilbc.read(read_image(path)), {}
    return compile_source(path, compiler, fs_root=fs_root)


# The names errors and traces give a program read from standard input or the command line.
STDIN_NAME, STRING_NAME = "<stdin>", "<string>"


def origin_of(file: str) -> Optional[Path]:
    """The source file a program named `file` is compiled from; None for an image."""
    path = Path(file)
    return None if path.suffix == ".ilbc" or is_image(path) else path


def load_entry(file: str, code: Optional[str], compiler: str,
               fs_root: Optional[str] = None) -> tuple[Image, dict[str, str], Optional[Path]]:
    """The image, sources and origin of what `run` runs: FILE, `-` (standard input) or `-e CODE`.

    Text from standard input or the command line is compiled by the seed
    compiler (the self-hosted one reads files; both give the same bytes) as
    if it were a file `<stdin>` or `<string>` in the working folder, so
    `use "x.ilu"` looks there.
    """
    if code is None and file != "-":
        image, sources = load_program(file, compiler, fs_root)
        return image, sources, origin_of(file)
    path = Path.cwd() / (STRING_NAME if code is not None else STDIN_NAME)
    text = source_text(code, path.name) if code is not None else source_text(read_stdin(), path.name)
    image, sources = compile_source(path, "seed", text, fs_root)
    return image, sources, path


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
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogateescape")
    return decode_source(raw, name)
