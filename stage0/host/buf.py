"""Byte buffers (`__buf_*`): the mutable bytes needed to read and write ILBC.

A buf is a Python bytearray. Fixed-width numbers are little-endian; `put`
appends and returns the buf, `get` reads at a byte offset. Reading past the
end, a value outside a width's range, or a wrong argument type is a runtime
error; a failed file call returns `{err: "message"}`.
"""
from __future__ import annotations

import contextlib
import struct
from typing import Any, Iterator

from stage0.errors import RuntimeErr
from stage0.host.core import utf8, want, want_int
from stage0.host.registry import HostContext, builtin, error_value
from stage0.host.sys import decode, read_bytes, write_bytes
from stage0.values import byte_value, get_index, set_index

# width name -> (struct format, smallest, largest); f64 has no integer range
_FORMATS: dict[str, tuple[str, int, int]] = {
    "u8": ("<B", 0, 0xFF),
    "u16": ("<H", 0, 0xFFFF),
    "u32": ("<I", 0, 0xFFFF_FFFF),
    "u64": ("<Q", 0, 0xFFFF_FFFF_FFFF_FFFF),
    "i64": ("<q", -(1 << 63), (1 << 63) - 1),
    "f64": ("<d", 0, 0),
}


def _buf(name: str, b: Any) -> bytearray:
    """Check that `b` is a buf."""
    return want(name, b, "buf")


def _byte(v: Any) -> int:
    """Check one byte value, with the same message as `b[i] = v`."""
    return byte_value(v)


# ---- making and measuring ----------------------------------------------------------


@builtin("__buf_new", 1)
def new(ctx: HostContext, n: Any) -> bytearray:
    """A buf of n zero bytes."""
    size = want_int("__buf_new", n)
    if size < 0:
        raise RuntimeErr(f"__buf_new expects a size of 0 or more, got {size}")
    try:
        return bytearray(size)
    except (MemoryError, OverflowError):
        raise RuntimeErr("__buf_new: size too large") from None


@builtin("__buf_len", 1)
def len_(ctx: HostContext, b: Any) -> int:
    """The number of bytes."""
    return len(_buf("__buf_len", b))


@builtin("__buf_get", 2)
def get(ctx: HostContext, b: Any, i: Any) -> int:
    """The byte at index i (negative counts from the end)."""
    return int(get_index(_buf("__buf_get", b), i))


@builtin("__buf_set", 3)
def set_(ctx: HostContext, b: Any, i: Any, v: Any) -> None:
    """Store byte v at index i."""
    set_index(_buf("__buf_set", b), i, v)


@contextlib.contextmanager
def _growable() -> Iterator[None]:
    """Growing a buf that ffi.alloc pinned (C may hold its address) is a runtime error."""
    try:
        yield
    except BufferError:
        raise RuntimeErr("buf is pinned by ffi: its size cannot change") from None


@builtin("__buf_push", 2)
def push(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append one byte; return the buf."""
    with _growable():
        _buf("__buf_push", b).append(_byte(v))
    return b


@builtin("__buf_put_bytes", 2)
def put_bytes(ctx: HostContext, b: Any, other: Any) -> bytearray:
    """Append another buf's bytes; return the buf."""
    with _growable():
        _buf("__buf_put_bytes", b).extend(_buf("__buf_put_bytes", other))
    return b


@builtin("__buf_slice", 3)
def slice_(ctx: HostContext, b: Any, start: Any, end: Any) -> bytearray:
    """A new buf of bytes [start, end), clamped, negatives from the end."""
    a, z = want_int("__buf_slice", start), want_int("__buf_slice", end)
    return bytearray(_buf("__buf_slice", b)[a:z])


# ---- fixed-width numbers ------------------------------------------------------------


def _pack(width: str, v: Any) -> bytes:
    """The little-endian bytes of v at the given width."""
    fmt, lo, hi = _FORMATS[width]
    if width == "f64":
        want("__buf_put_f64", v, "num")
        try:
            return struct.pack(fmt, float(v))
        except OverflowError:
            raise RuntimeErr("value out of range for f64") from None
    n = want_int(f"__buf_put_{width}", v)
    if not lo <= n <= hi:
        raise RuntimeErr(f"value out of range for {width}")
    return struct.pack(fmt, n)


def _unpack(width: str, b: Any, offset: Any) -> Any:
    """Read a little-endian number of the given width at a byte offset."""
    name = f"__buf_get_{width}"
    data = _buf(name, b)
    fmt = _FORMATS[width][0]
    at = want_int(name, offset)
    if at < 0 or at + struct.calcsize(fmt) > len(data):
        raise RuntimeErr("read past the end of the buf")
    return struct.unpack_from(fmt, data, at)[0]


def _put(width: str, b: Any, v: Any) -> bytearray:
    """Append v at the given width; return the buf."""
    with _growable():
        _buf(f"__buf_put_{width}", b).extend(_pack(width, v))
    return b


@builtin("__buf_put_u8", 2)
def put_u8(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian u8; return the buf."""
    return _put("u8", b, v)


@builtin("__buf_get_u8", 2)
def get_u8(ctx: HostContext, b: Any, offset: Any) -> int:
    """Read a little-endian u8 at a byte offset."""
    return _unpack("u8", b, offset)


@builtin("__buf_put_u16", 2)
def put_u16(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian u16; return the buf."""
    return _put("u16", b, v)


@builtin("__buf_get_u16", 2)
def get_u16(ctx: HostContext, b: Any, offset: Any) -> int:
    """Read a little-endian u16 at a byte offset."""
    return _unpack("u16", b, offset)


@builtin("__buf_put_u32", 2)
def put_u32(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian u32; return the buf."""
    return _put("u32", b, v)


@builtin("__buf_get_u32", 2)
def get_u32(ctx: HostContext, b: Any, offset: Any) -> int:
    """Read a little-endian u32 at a byte offset."""
    return _unpack("u32", b, offset)


@builtin("__buf_put_u64", 2)
def put_u64(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian u64; return the buf."""
    return _put("u64", b, v)


@builtin("__buf_get_u64", 2)
def get_u64(ctx: HostContext, b: Any, offset: Any) -> int:
    """Read a little-endian u64 at a byte offset."""
    return _unpack("u64", b, offset)


@builtin("__buf_put_i64", 2)
def put_i64(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian i64; return the buf."""
    return _put("i64", b, v)


@builtin("__buf_get_i64", 2)
def get_i64(ctx: HostContext, b: Any, offset: Any) -> int:
    """Read a little-endian i64 at a byte offset."""
    return _unpack("i64", b, offset)


@builtin("__buf_put_f64", 2)
def put_f64(ctx: HostContext, b: Any, v: Any) -> bytearray:
    """Append v as a little-endian f64; return the buf."""
    return _put("f64", b, v)


@builtin("__buf_get_f64", 2)
def get_f64(ctx: HostContext, b: Any, offset: Any) -> float:
    """Read a little-endian f64 at a byte offset."""
    return _unpack("f64", b, offset)


# ---- text, hex and files ----------------------------------------------------------


@builtin("__buf_from_str", 1)
def from_str(ctx: HostContext, s: Any) -> bytearray:
    """The UTF-8 bytes of a string."""
    return bytearray(utf8("__buf_from_str", want("__buf_from_str", s, "str")))


@builtin("__buf_to_str", 1)
def to_str(ctx: HostContext, b: Any) -> str | dict[str, Any]:
    """Decode UTF-8 bytes; {err} when they are not valid UTF-8."""
    text = decode(bytes(_buf("__buf_to_str", b)))
    return error_value("buf is not valid UTF-8") if text is None else text


@builtin("__buf_hex", 1)
def hex_(ctx: HostContext, b: Any) -> str:
    """The bytes as lowercase hexadecimal, two digits per byte."""
    return _buf("__buf_hex", b).hex()


@builtin("__buf_from_hex", 1)
def from_hex(ctx: HostContext, s: Any) -> bytearray | dict[str, Any]:
    """The bytes that hexadecimal text stands for (two digits a byte), or {err}."""
    try:
        return bytearray.fromhex(want("__buf_from_hex", s, "str"))
    except ValueError:
        return error_value(f"not hexadecimal bytes: {s[:40]!r}")


@builtin("__buf_read_file", 1, cap="fs:ro")
def read_file(ctx: HostContext, path: Any) -> bytearray | dict[str, Any]:
    """A file's bytes as a new buf, or {err}."""
    data = read_bytes(ctx, want("__buf_read_file", path, "str"))
    return data if isinstance(data, dict) else bytearray(data)


@builtin("__buf_write_file", 2, cap="fs")
def write_file(ctx: HostContext, path: Any, b: Any) -> dict[str, Any] | None:
    """Write a buf's bytes to a file; nil or {err}."""
    want("__buf_write_file", path, "str")
    return write_bytes(ctx, path, bytes(_buf("__buf_write_file", b)))
