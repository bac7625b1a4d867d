"""ILBC: the binary image format, as a writer and a reader that mirror each other.

`write(image) -> bytes` and `read(data) -> Image` are built from pairs of
functions that lay out and take apart the same bytes in the same order
(write_header/read_header, write_consts/read_consts, ...), over a Writer and a
Reader that only know little-endian primitives. The layout is documented in
docs/ilbc.md. The writer's output depends only on the Image; the reader
checks everything (the header, every count against the bytes left, every
index, every instruction: see stage0/image/verify.py) and reports any problem as a
one-line ImageError.
"""
from __future__ import annotations

import struct
import zlib

from stage0.errors import ImageError
from stage0.image.model import Const, FuncDef, Image, ModuleEntry
from stage0.image.verify import decode, validate, verify_code

__all__ = [
    "MAGIC", "VERSION", "HEADER_SIZE", "write", "read", "read_structure", "decode", "validate", "verify_code",
    "Writer", "Reader",
]

MAGIC = b"ILBC"
VERSION = 3  # 2: WIDE prefix, u32 table indices; 3: each module lists its declared capabilities
HEADER_SIZE = 16

TAG_INT, TAG_FLOAT, TAG_STR = 1, 2, 3

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_F64 = struct.Struct("<d")

# The fewest payload bytes one element of each counted section can take; a
# count is checked against the bytes left before anything is allocated for it.
_MIN_CONST = 5      # tag + empty string length
_MIN_NAME = 4       # empty string length
_MIN_UPVAL = 3      # kind + index
_MIN_FUNC = 18      # u32 name, three u16, code length, line count
_MIN_LINE = 8       # offset + line
_MIN_MODULE = 16    # three u32, two u16 capability counts


# ---- primitives ---------------------------------------------------------------

def _fits(value: object, bits: int, what: str) -> int:
    """value as an unsigned int of `bits` bits, or ValueError naming what it is."""
    if type(value) is not int or not 0 <= value < (1 << bits):
        raise ValueError(f"{what} must be an integer from 0 to {(1 << bits) - 1}, got {value!r}")
    return value


class Writer:
    """An append-only little-endian byte buffer."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def put_raw(self, data: bytes) -> None:
        """Append bytes as they are (no length prefix)."""
        self.buf += data

    def put_u8(self, value: int, what: str = "u8 field") -> None:
        """Append one unsigned byte."""
        self.buf.append(_fits(value, 8, what))

    def put_u16(self, value: int, what: str = "u16 field") -> None:
        """Append an unsigned 16-bit integer."""
        self.buf += _U16.pack(_fits(value, 16, what))

    def put_u32(self, value: int, what: str = "u32 field") -> None:
        """Append an unsigned 32-bit integer."""
        self.buf += _U32.pack(_fits(value, 32, what))

    def put_f64(self, value: float) -> None:
        """Append an IEEE-754 double, bit for bit (NaN payloads and -0.0 survive)."""
        self.buf += _F64.pack(value)

    def put_bytes(self, data: bytes, what: str = "byte string") -> None:
        """Append a u32 length and then the bytes."""
        if not isinstance(data, (bytes, bytearray)):
            raise ValueError(f"{what} must be bytes, got {type(data).__name__}")
        self.put_u32(len(data), f"{what} length")
        self.buf += data

    def put_str(self, text: str, what: str = "string") -> None:
        """Append a string as put_bytes of its UTF-8 encoding."""
        if type(text) is not str:
            raise ValueError(f"{what} must be a str, got {type(text).__name__}")
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{what} {text!r} cannot be encoded as UTF-8") from None
        self.put_bytes(data, what)


class Reader:
    """A cursor over an image's bytes; every read checks the bytes left."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    @property
    def left(self) -> int:
        """Bytes not yet read."""
        return len(self.data) - self.pos

    def take(self, n: int, what: str) -> bytes:
        """The next n bytes, or a truncation error naming what was being read."""
        if n > self.left:
            raise ImageError(f"truncated image: {what} needs {n} bytes at offset {self.pos}, "
                             f"{self.left} left")
        data = self.data[self.pos:self.pos + n]
        self.pos += n
        return data

    def get_u8(self, what: str) -> int:
        """Read one unsigned byte."""
        return self.take(1, what)[0]

    def get_u16(self, what: str) -> int:
        """Read an unsigned 16-bit integer."""
        return int(_U16.unpack(self.take(2, what))[0])

    def get_u32(self, what: str) -> int:
        """Read an unsigned 32-bit integer."""
        return int(_U32.unpack(self.take(4, what))[0])

    def get_f64(self, what: str) -> float:
        """Read an IEEE-754 double."""
        return float(_F64.unpack(self.take(8, what))[0])

    def get_bytes(self, what: str) -> bytes:
        """Read a u32 length and then that many bytes."""
        return self.take(self.get_u32(f"{what} length"), what)

    def get_str(self, what: str) -> str:
        """Read get_bytes and decode it as strict UTF-8."""
        start = self.pos
        data = self.get_bytes(what)
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise ImageError(f"{what} at offset {start} is not valid UTF-8") from None

    def get_count(self, count: int, each: int, what: str) -> int:
        """count, after checking that count elements of at least `each` bytes can fit."""
        if count * each > self.left:
            raise ImageError(f"truncated image: {count} {what} need at least {count * each} bytes "
                             f"at offset {self.pos}, {self.left} left")
        return count


# ---- header ---------------------------------------------------------------------

def write_header(w: Writer, payload: bytes) -> None:
    """Magic, version, flags, payload length and payload checksum."""
    w.put_raw(MAGIC)
    w.put_u16(VERSION, "version")
    w.put_u16(0, "flags")
    w.put_u32(len(payload), "payload length")
    w.put_u32(zlib.crc32(payload), "checksum")


def read_header(r: Reader) -> None:
    """Check the header and leave r at the start of the payload."""
    data = r.data
    # Magic and version come first so that a later format may change all the rest.
    if not data or not MAGIC.startswith(data[:4]):
        raise ImageError("not an ILBC image")
    if len(data) >= 6:
        version = _U16.unpack_from(data, 4)[0]
        if version != VERSION:
            raise ImageError(f"unsupported ILBC version {version} (this host reads {VERSION})")
    if len(data) < HEADER_SIZE:
        raise ImageError(f"truncated image: {len(data)} bytes, the header alone is {HEADER_SIZE}")
    r.pos = 6
    flags = r.get_u16("flags")
    if flags != 0:
        raise ImageError(f"unsupported ILBC flags 0x{flags:04X} (this host knows none)")
    length = r.get_u32("payload length")
    crc = r.get_u32("checksum")
    if length > r.left:
        raise ImageError(f"truncated image: the header promises {length} payload bytes, {r.left} present")
    if length < r.left:
        raise ImageError(f"{r.left - length} trailing bytes after the {length}-byte payload")
    if zlib.crc32(data[HEADER_SIZE:]) != crc:
        raise ImageError("checksum mismatch: the image is corrupt")


# ---- constants ------------------------------------------------------------------

def write_consts(w: Writer, consts: list[Const]) -> None:
    """u32 count, then each constant as a tag and its value."""
    w.put_u32(len(consts), "constant count")
    for i, value in enumerate(consts):
        write_const(w, value, i)


def read_consts(r: Reader) -> list[Const]:
    """Mirror of write_consts."""
    count = r.get_count(r.get_u32("constant count"), _MIN_CONST, "constants")
    return [read_const(r, i) for i in range(count)]


def write_const(w: Writer, value: Const, i: int) -> None:
    """One constant: int as sign + minimal magnitude, float as a double, str as UTF-8."""
    # bool is an int subclass: tru/fls have their own opcodes and must never
    # sneak into the pool as 1/0 (nor any other int or str subclass).
    if type(value) not in (int, float, str):
        raise ValueError(f"constant {i} is a {type(value).__name__} ({value!r}); "
                         "only int, float and str can be constants")
    if isinstance(value, int):
        w.put_u8(TAG_INT)
        w.put_u8(1 if value < 0 else 0)
        mag = abs(value)
        w.put_bytes(mag.to_bytes((mag.bit_length() + 7) // 8, "little"), f"constant {i}")
    elif isinstance(value, float):
        w.put_u8(TAG_FLOAT)
        w.put_f64(value)
    else:
        w.put_u8(TAG_STR)
        w.put_str(value, f"constant {i}")


def read_const(r: Reader, i: int) -> Const:
    """Mirror of write_const; rejects non-canonical integers so bytes round-trip."""
    tag = r.get_u8(f"constant {i} tag")
    if tag == TAG_INT:
        sign = r.get_u8(f"constant {i} sign")
        mag = r.get_bytes(f"constant {i}")
        if sign > 1:
            raise ImageError(f"constant {i}: integer sign byte {sign} (must be 0 or 1)")
        if mag[-1:] == b"\0" or (sign and not mag):
            raise ImageError(f"constant {i}: integer not in minimal form")
        n = int.from_bytes(mag, "little")
        return -n if sign else n
    if tag == TAG_FLOAT:
        return r.get_f64(f"constant {i}")
    if tag == TAG_STR:
        return r.get_str(f"constant {i}")
    raise ImageError(f"constant {i}: unknown tag {tag}")


# ---- names ----------------------------------------------------------------------

def write_names(w: Writer, names: list[str]) -> None:
    """u32 count, then each name as UTF-8."""
    w.put_u32(len(names), "name count")
    for i, name in enumerate(names):
        w.put_str(name, f"name {i}")


def read_names(r: Reader) -> list[str]:
    """Mirror of write_names."""
    count = r.get_count(r.get_u32("name count"), _MIN_NAME, "names")
    return [r.get_str(f"name {i}") for i in range(count)]


# ---- functions ------------------------------------------------------------------

def write_funcs(w: Writer, funcs: list[FuncDef]) -> None:
    """u32 count, then each function."""
    w.put_u32(len(funcs), "function count")
    for i, func in enumerate(funcs):
        write_func(w, func, i)


def read_funcs(r: Reader) -> list[FuncDef]:
    """Mirror of write_funcs."""
    count = r.get_count(r.get_u32("function count"), _MIN_FUNC, "functions")
    return [read_func(r, i) for i in range(count)]


def write_func(w: Writer, func: FuncDef, i: int) -> None:
    """Name, arity, locals, upvalues, code and line table of one function."""
    what = f"function {i}"
    w.put_u32(func.name, f"{what} name")
    w.put_u16(func.arity, f"{what} arity")
    w.put_u16(func.nlocals, f"{what} nlocals")
    w.put_u16(len(func.upvals), f"{what} upvalue count")
    for kind, index in func.upvals:
        w.put_u8(kind, f"{what} upvalue kind")
        w.put_u16(index, f"{what} upvalue index")
    w.put_bytes(func.code, f"{what} code")
    w.put_u32(len(func.lines), f"{what} line count")
    for offset, line in func.lines:
        w.put_u32(offset, f"{what} line offset")
        w.put_u32(line, f"{what} line")
    write_debug_names(w, func.local_names, f"{what} local names")
    write_debug_names(w, func.upval_names, f"{what} upvalue names")


def write_debug_names(w: Writer, names: list[int], what: str) -> None:
    """u16 count (0, or one per slot), then a u32 name index each."""
    w.put_u16(len(names), f"{what} count")
    for index in names:
        w.put_u32(index, what)


def read_debug_names(r: Reader, what: str) -> list[int]:
    """Mirror of write_debug_names."""
    count = r.get_count(r.get_u16(f"{what} count"), 4, what)
    return [r.get_u32(what) for _ in range(count)]


def read_func(r: Reader, i: int) -> FuncDef:
    """Mirror of write_func (the checks on the values are verify.validate's)."""
    what = f"function {i}"
    name = r.get_u32(f"{what} name")
    arity = r.get_u16(f"{what} arity")
    nlocals = r.get_u16(f"{what} nlocals")
    nup = r.get_count(r.get_u16(f"{what} upvalue count"), _MIN_UPVAL, f"{what} upvalues")
    upvals = [(r.get_u8(f"{what} upvalue kind"), r.get_u16(f"{what} upvalue index")) for _ in range(nup)]
    code = r.get_bytes(f"{what} code")
    nlines = r.get_count(r.get_u32(f"{what} line count"), _MIN_LINE, f"{what} line entries")
    lines = [(r.get_u32(f"{what} line offset"), r.get_u32(f"{what} line")) for _ in range(nlines)]
    local_names = read_debug_names(r, f"{what} local names")
    upval_names = read_debug_names(r, f"{what} upvalue names")
    return FuncDef(name, arity, nlocals, upvals, code, lines, local_names, upval_names)


# ---- modules --------------------------------------------------------------------

def write_modules(w: Writer, modules: list[ModuleEntry]) -> None:
    """u32 count, then each module's name, file and main function, and its declared capabilities."""
    w.put_u32(len(modules), "module count")
    for i, mod in enumerate(modules):
        w.put_u32(mod.name, f"module {i} name")
        w.put_u32(mod.file, f"module {i} file")
        w.put_u32(mod.main, f"module {i} main")
        write_cap_list(w, mod.requires, f"module {i} requires")
        write_cap_list(w, mod.uses, f"module {i} uses")


def read_modules(r: Reader) -> list[ModuleEntry]:
    """Mirror of write_modules."""
    count = r.get_count(r.get_u32("module count"), _MIN_MODULE, "modules")
    return [
        ModuleEntry(r.get_u32(f"module {i} name"), r.get_u32(f"module {i} file"), r.get_u32(f"module {i} main"),
                    read_cap_list(r, f"module {i} requires"), read_cap_list(r, f"module {i} uses"))
        for i in range(count)
    ]


def write_cap_list(w: Writer, caps: tuple[int, ...], what: str) -> None:
    """u16 count, then a u32 name index per capability."""
    w.put_u16(len(caps), f"{what} count")
    for c in caps:
        w.put_u32(c, what)


def read_cap_list(r: Reader, what: str) -> tuple[int, ...]:
    """Mirror of write_cap_list."""
    count = r.get_count(r.get_u16(f"{what} count"), 4, what)
    return tuple(r.get_u32(what) for _ in range(count))


# ---- whole images ---------------------------------------------------------------

def write(image: Image, *, verify: bool = True) -> bytes:
    """The ILBC bytes of image. ValueError when a field cannot be encoded (a bool
    constant, an index wider than 32 bits); ImageError when verify is on and the
    image would not pass read()'s checks."""
    body = Writer()
    write_consts(body, image.consts)
    write_names(body, image.names)
    write_funcs(body, image.funcs)
    write_modules(body, image.modules)
    body.put_u32(image.entry, "entry module")
    if verify:
        validate(image)
    payload = bytes(body.buf)
    out = Writer()
    write_header(out, payload)
    out.put_raw(payload)
    return bytes(out.buf)


def read(data: bytes) -> Image:
    """The Image in data; ImageError (and nothing else) when data is not a valid image."""
    image = read_structure(data)
    validate(image)
    return image


def read_structure(data: bytes) -> Image:
    """Mirror of write: the Image in data, its layout checked but not yet its code (see verify)."""
    r = Reader(bytes(data))
    read_header(r)
    consts = read_consts(r)
    names = read_names(r)
    funcs = read_funcs(r)
    modules = read_modules(r)
    entry = r.get_u32("entry module")
    if r.left:
        raise ImageError(f"{r.left} trailing bytes after the module table at offset {r.pos}")
    return Image(consts, names, funcs, modules, entry)
