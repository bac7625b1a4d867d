"""Native libraries through ctypes (`__ffi_*`); every builtin here needs the `ffi` capability.

Types are strings: `i64 i32 i8 u64 u32 u8` (integers, range-checked: ctypes
would wrap 2**63 to -2**63 silently), `f64 f32`, `ptr`, `void`, or a struct
descriptor made by `__ffi_struct`. How values cross (`../shared/spec/stdlib.md` §4.1):

- a `ptr` argument takes nil (NULL), a str (a NUL-terminated UTF-8 copy,
  alive for the call), a buf (its own storage, no copy: C may write into
  it) or a number (an address); a `ptr` result is an address, nil for NULL;
- a struct argument is an obj with the descriptor's fields, passed by value;
  a struct result comes back as an obj.

A buf C may keep a pointer to comes from `__ffi_alloc`: it stays pinned (its
size fixed) while the program runs. Libraries and callbacks live in the VM's
handle table. A wrong call can still crash the process, which no error value
can catch; `faulthandler` at least prints where.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import faulthandler
from typing import Any, Callable

from stage0.errors import RuntimeErr
from stage0.host.core import utf8, want, want_int
from stage0.host.registry import HostContext, builtin, checked, error_value
from stage0.values import Builtin, is_num, type_name

# type string -> (ctypes type, integer bits or 0, signed)
SCALARS: dict[str, tuple[Any, int, bool]] = {
    "i64": (ctypes.c_int64, 64, True), "i32": (ctypes.c_int32, 32, True), "i8": (ctypes.c_int8, 8, True),
    "u64": (ctypes.c_uint64, 64, False), "u32": (ctypes.c_uint32, 32, False), "u8": (ctypes.c_uint8, 8, False),
    "f64": (ctypes.c_double, 0, True), "f32": (ctypes.c_float, 0, True), "ptr": (ctypes.c_void_p, 0, False),
}
_STRUCTS: dict[tuple[tuple[str, str], ...], type[ctypes.Structure]] = {}
PINNED: list[Any] = []  # ctypes views of __ffi_alloc bufs: while one exists, the buf cannot be resized


def _on() -> None:
    """First use: have a crash in native code print a traceback at least."""
    if not faulthandler.is_enabled():
        try:
            faulthandler.enable()
        except (RuntimeError, ValueError, OSError):  # no usable stderr (embedded, closed)
            pass


def _struct_type(desc: dict[str, Any]) -> type[ctypes.Structure]:
    """The ctypes Structure of a descriptor (one class per field list)."""
    fields = tuple((k, v) for k, v in desc["fields"].items())
    if fields not in _STRUCTS:
        _STRUCTS[fields] = type("IlusmStruct", (ctypes.Structure,),
                                {"_fields_": [(k, SCALARS[v][0]) for k, v in fields]})
    return _STRUCTS[fields]


def ctype(name: str, t: Any) -> Any:
    """The ctypes type of a type string or struct descriptor (None for void)."""
    if t == "void":
        return None
    if type(t) is str and t in SCALARS:
        return SCALARS[t][0]
    if type(t) is dict and t.get("t") == "struct":
        return _struct_type(t)
    raise RuntimeErr(f"{name}: unknown type {t!r} (types: {', '.join(SCALARS)}, void, or an ffi.struct)")


def to_c(name: str, t: Any, v: Any, keep: list[Any]) -> Any:
    """An ilusm value as a C argument of type t (what must stay alive goes to keep)."""
    if type(t) is dict:
        if type(v) is not dict:
            raise RuntimeErr(f"{name}: a struct argument must be an obj, got {type_name(v)}")
        cls = _struct_type(t)
        return cls(*(to_c(name, ft, v.get(fname), keep) for fname, ft in t["fields"].items()))
    if t == "ptr":
        return _pointer(name, v, keep)
    _, bits, signed = SCALARS[t]
    if not is_num(v):
        raise RuntimeErr(f"{name}: expects a num for {t}, got {type_name(v)}")
    if bits == 0:
        return float(v)
    n = want_int(name, v)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not lo <= n <= hi:
        raise RuntimeErr(f"value out of range for {t}: {n}")
    return n


def _pointer(name: str, v: Any, keep: list[Any]) -> Any:
    """nil, a str copy, a buf's own storage, or an address."""
    if v is None:
        return None
    if type(v) is str:
        data = utf8(name, v)
        if b"\0" in data:
            raise RuntimeErr(f"{name}: a string passed as ptr cannot hold NUL")
        s = ctypes.c_char_p(data)
        keep.append(s)
        return ctypes.cast(s, ctypes.c_void_p)
    if type(v) is bytearray:
        if not v:
            return None
        view = (ctypes.c_char * len(v)).from_buffer(v)
        keep.append(view)
        return ctypes.cast(view, ctypes.c_void_p)
    if is_num(v) and not isinstance(v, bool):
        n = want_int(name, v)
        if not 0 <= n < 1 << 64:
            raise RuntimeErr(f"value out of range for ptr: {n}")
        return n
    raise RuntimeErr(f"{name}: a ptr is nil, a str, a buf or an address, got {type_name(v)}")


def from_c(t: Any, r: Any) -> Any:
    """A C result (or callback argument) of type t as an ilusm value."""
    if t == "void":
        return None
    if type(t) is dict:
        return {k: from_c(ft, getattr(r, k)) for k, ft in t["fields"].items()}
    if t == "ptr":
        return r or None
    if t in ("f64", "f32"):
        return float(r)
    return int(r)


def _types(name: str, args: Any) -> list[Any]:
    """A list of argument types, checked."""
    types = want(name, args, "lst")
    for t in types:
        ctype(name, t)
        if t == "void":
            raise RuntimeErr(f"{name}: void is not an argument type")
    return list(types)


@builtin("__ffi_open", 1, cap="ffi")
def open_(ctx: HostContext, path: Any) -> int | dict[str, Any]:
    """A library handle: nil is the process itself (libc), a bare name is looked up ("m"), a path is loaded."""
    _on()
    target = None if path is None else want("__ffi_open", path, "str")
    try:
        if target is not None and "/" not in target:
            target = ctypes.util.find_library(target) or target
        lib = ctypes.CDLL(target)
    except OSError as e:
        return error_value(f"cannot open library {path}: {e}")
    return int(ctx.handles.add("lib", Keep(lib)))  # wrapped: `lib.close` would be libc's close()!


@builtin("__ffi_close", 1, cap="ffi")
def close(ctx: HostContext, h: Any) -> None:
    """Forget a library handle (the code stays mapped: functions made from it keep working)."""
    ctx.handles.drop(h)


@builtin("__ffi_fn", 4, cap="ffi")
def fn(ctx: HostContext, lib: Any, name: Any, ret: Any, args: Any) -> Builtin | dict[str, Any]:
    """An ilusm function calling the C function `name` of lib, returning ret and taking args."""
    library = ctx.handles.get("__ffi_fn", lib, "lib").obj
    want("__ffi_fn", name, "str")
    types = _types("__ffi_fn", args)
    restype = ctype("__ffi_fn", ret)
    try:
        cfn = getattr(library, name)
    except AttributeError:
        return error_value(f"no function {name} in the library")
    cfn.restype = restype
    cfn.argtypes = [ctype("__ffi_fn", t) for t in types]
    return Builtin(name, len(types), checked(name, "ffi", _caller(name, cfn, ret, types)), "ffi")


def _caller(name: str, cfn: Any, ret: Any, types: list[Any]) -> Callable[..., Any]:
    """The builtin body that marshals, calls, and raises an error a callback met."""

    def call(ctx: HostContext, *args: Any) -> Any:
        keep: list[Any] = []
        c_args = [to_c(name, t, v, keep) for t, v in zip(types, args)]
        pending = CALLBACK_ERRORS.setdefault(id(ctx), [])
        pending.clear()
        result = cfn(*c_args)
        if pending:  # the first error a callback met during this call; later ones followed from it
            first = pending[0]
            pending.clear()
            raise first
        return from_c(ret, result)

    return call


CALLBACK_ERRORS: dict[int, list[RuntimeErr]] = {}  # per VM: an error raised inside a callback


@builtin("__ffi_cb", 3, cap="ffi")
def cb(ctx: HostContext, f: Any, ret: Any, args: Any) -> int:
    """The address of a C function that calls the ilusm function f (kept alive with the VM)."""
    types = _types("__ffi_cb", args)
    proto = ctypes.CFUNCTYPE(ctype("__ffi_cb", ret), *(ctype("__ffi_cb", t) for t in types))
    errors = CALLBACK_ERRORS.setdefault(id(ctx), [])

    def trampoline(*c_args: Any) -> Any:
        try:
            r = ctx.call(f, [from_c(t, a) for t, a in zip(types, c_args)])
            return None if ret == "void" else to_c("__ffi_cb", ret, r, [])
        except RuntimeErr as e:  # C cannot unwind: report it when the C call returns
            errors.append(e)
            return None if ret == "void" else 0

    c_fn = proto(trampoline)
    ctx.handles.add("cb", Keep(c_fn))
    return int(ctypes.cast(c_fn, ctypes.c_void_p).value or 0)


class Keep:
    """Holds a ctypes object for the VM's life (a handle table entry needs close())."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def close(self) -> None:
        """Nothing to close: dropping the reference is enough."""


@builtin("__ffi_struct", 1, cap="ffi")
def struct(ctx: HostContext, fields: Any) -> dict[str, Any]:
    """A struct descriptor {t: "struct", fields, size, align} from {name: scalar type}, in key order."""
    want("__ffi_struct", fields, "obj")
    for t in fields.values():
        if type(t) is not str or t not in SCALARS:
            raise RuntimeErr(f"__ffi_struct: a field type must be one of {', '.join(SCALARS)}, got {t!r}")
    desc = {"t": "struct", "fields": dict(fields)}
    cls = _struct_type(desc)
    return {**desc, "size": ctypes.sizeof(cls), "align": ctypes.alignment(cls)}


@builtin("__ffi_size", 1, cap="ffi")
def size(ctx: HostContext, t: Any) -> int:
    """The size in bytes of a type."""
    c = ctype("__ffi_size", t)
    return 0 if c is None else ctypes.sizeof(c)


@builtin("__ffi_alloc", 1, cap="ffi")
def alloc(ctx: HostContext, n: Any) -> bytearray:
    """A buf of n zero bytes that C may keep a pointer to: pinned, its size fixed, for the program's life."""
    count = want_int("__ffi_alloc", n)
    if not 0 < count <= 1 << 30:
        raise RuntimeErr(f"__ffi_alloc expects a size from 1 to 1073741824, got {count}")
    b = bytearray(count)
    PINNED.append((ctypes.c_char * count).from_buffer(b))
    return b


@builtin("__ffi_read", 2, cap="ffi")
def read(ctx: HostContext, ptr: Any, n: Any) -> bytearray:
    """A copy of n bytes at an address."""
    addr = _pointer("__ffi_read", ptr, [])
    count = want_int("__ffi_read", n)
    if addr is None or count < 0:
        raise RuntimeErr("__ffi_read expects an address and a count of 0 or more")
    return bytearray(ctypes.string_at(addr, count))


@builtin("__ffi_str", 1, cap="ffi")
def str_(ctx: HostContext, ptr: Any) -> str | None:
    """The NUL-terminated UTF-8 text at an address (invalid bytes become U+FFFD); nil for NULL."""
    addr = _pointer("__ffi_str", ptr, [])
    return None if addr is None else ctypes.string_at(addr).decode("utf-8", "replace")
