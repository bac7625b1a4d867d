"""Where the toolchain finds things, written once: the library root and its folders, the
self-hosted compiler's main module, the committed image, and reading a source file.

Part of the kernel: it imports nothing from the sub-packages. The ilusm
pipeline (`lib/backend/compile_pipeline.ilu`) gets the same library folders
and byte-order mark from a block `tools/gen_paths.py` writes from this module.
"""
from __future__ import annotations

import os
from pathlib import Path

from stage0.errors import CompileError

ROOT = Path(__file__).resolve().parent.parent  # the source checkout (stage0/ is in it)
# The folders of lib/ a `use NAME` searches after the importer's own, in this order.
LIB_SUBDIRS = ("stdlib", "backend", "frontend", "runtime")
# The entry module of every toolchain image, relative to lib/.
MAIN_MODULE = "backend/compile_pipeline.ilu"
COMMITTED_IMAGE = ROOT / "ilusm.ilbc"
BOM = "\ufeff"  # a byte-order mark some editors write first; it is not part of the program


def lib_root() -> Path:
    """The `lib/` folder: $ILUSM_LIB when set, else beside the source checkout, else the installed copy.

    The self-hosted pipeline reads the same variable (compile_pipeline.ilu).
    """
    env = os.environ.get("ILUSM_LIB")
    if env:
        return Path(env).resolve()
    here = ROOT / "lib"
    if (here / "stdlib").is_dir():
        return here
    import ilusm_lib  # installed by `pip install .` (see pyproject.toml)

    return Path(ilusm_lib.__file__).resolve().parent


def display(path: Path) -> str:
    """A path as a user would type it: relative to the working folder when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel


def read_source(path: Path) -> str:
    """A source file's text; unreadable or non-UTF-8 files are compile errors."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise CompileError(f"cannot read file: {e.strerror}", display(path), 1, 1, None, kind="error") from None
    return decode_source(data, display(path))


def decode_source(data: bytes, name: str) -> str:
    """Program text from the bytes of the source `name`, without its byte-order mark.

    Bytes that are not UTF-8 are the syntax error the contract gives, at the
    line and column of the first bad byte.
    """
    try:
        return data.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as e:
        line, col = utf8_position(data, e.start)
        raise CompileError(f"invalid UTF-8 (byte 0x{data[e.start]:02x})", name, line, col, None,
                           kind="syntax error") from None


def utf8_position(data: bytes, at: int) -> tuple[int, int]:
    """Line and column (in characters, as for any other error) of byte `at` of valid UTF-8 up to there.

    Continuation bytes (0x80-0xBF) do not start a character; a leading byte-order mark is not a column.
    """
    start = data.rfind(b"\n", 0, at) + 1
    col = 1 + sum(1 for b in data[start:at] if not 0x80 <= b <= 0xBF)
    if start == 0 and data.startswith(BOM.encode("utf-8")) and at >= 3:
        col -= 1
    return data.count(b"\n", 0, at) + 1, col
