"""Native code from LLVM IR text (`__mch_*`), the host half of lib/backend/mch.ilu.

`__mch_ir_obj` turns IR text into an object file for a target (x86-64,
arm64, wasm32 or a full triple); nothing runs, so it needs no capability.
`__mch_link` compiles IR text on this machine and gives an ilusm function
value that calls one of its functions natively; native code escapes every
capability check, so it needs `ffi`, which the default set leaves out.

llvmlite is imported by the first of these calls, never at start-up. One
MCJIT engine serves the whole process and owns its TargetMachine (a second
engine, or another user of that machine, crashes LLVM); object files come
from TargetMachines of their own. MCJIT accepts a second definition of a
symbol silently and then finds the newest, so a module is added once per
distinct IR text and linking the same text again reuses it.

As every host domain does, a bad IR text or signature is an error value
`{err}`, and a wrong argument type raises.
"""
from __future__ import annotations

import hashlib
import re
from typing import Any, Callable, Optional

from stage0.errors import RuntimeErr
from stage0.host.core import want
from stage0.host.registry import HostContext, builtin
from stage0.values import Builtin, fmt_num, type_name

# Target names mch.ilu uses, with their triples; `native` says which one links here.
TRIPLES = {"x86-64": "x86_64-unknown-linux-gnu", "arm64": "aarch64-unknown-linux-gnu",
           "wasm32": "wasm32-unknown-unknown"}
# The scalar types of a signature: LLVM spelling and ctypes type name (ctypes loads on first link).
SCALARS = {"i64": ("i64", "c_int64"), "f64": ("double", "c_double")}
I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1

# The C math functions linked code may call (LLVM also lowers some intrinsics to them): MCJIT
# does not search the process, so each is registered with the engine by name.
LIBM = ("sqrt", "fabs", "floor", "ceil", "trunc", "round", "rint", "fmod", "pow", "exp", "exp2", "log",
        "log2", "log10", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "fma", "fmin", "fmax")

# C-API functions traces that read Python objects call (they hold the GIL): registered with the
# engine by name, like LIBM.
# The C API functions traces call (reading list elements, and writing them: a new element is a
# new object; the one it replaces loses the list's reference).
HELPERS = ("PyLong_AsLongAndOverflow", "PyLong_FromLongLong", "PyFloat_FromDouble", "Py_DecRef")

_SIG = re.compile(r"^(i64|f64)\(((?:i64|f64)(?:,(?:i64|f64))*)?\)$")


class _Llvm:
    """llvmlite, imported and initialised on first use, with the one MCJIT engine."""

    def __init__(self) -> None:
        import llvmlite.binding as llvm

        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        self.llvm = llvm
        _register_libm(llvm)
        self.engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""),
                                                 llvm.Target.from_default_triple().create_target_machine())
        self.machines: dict[str, Any] = {}   # triple -> TargetMachine for objects (never the engine's)
        self.linked: dict[str, Any] = {}     # sha256 of IR text -> its module, added to the engine
        self.objects: dict[str, bytes] = {}  # sha256 of IR text -> the object MCJIT made of it
        self.last_object = b""               # the object MCJIT made last (its object-cache hook)
        self.engine.set_object_cache(notify_func=self._compiled)

    def _compiled(self, module: Any, data: bytes) -> None:
        """MCJIT made object code for a module: keep it for the JIT's disk cache."""
        self.last_object = bytes(data)


_STATE: Optional[_Llvm] = None


def _register_libm(llvm: Any) -> None:
    """Make the LIBM functions of the C library's math part known to the engine by name."""
    import ctypes
    import ctypes.util

    libm = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    for name in LIBM:
        fn = getattr(libm, name, None)
        if fn is not None:
            llvm.add_symbol(name, ctypes.cast(fn, ctypes.c_void_p).value)
    for name in HELPERS:
        llvm.add_symbol(name, ctypes.cast(getattr(ctypes.pythonapi, name), ctypes.c_void_p).value)


def _llvm() -> _Llvm:
    """The process's LLVM state, made on first use."""
    global _STATE
    if _STATE is None:
        _STATE = _Llvm()
    return _STATE


def native_name() -> Optional[str]:
    """The mch target name of this machine, or None when mch cannot link here."""
    import platform

    return {"x86_64": "x86-64", "amd64": "x86-64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower())


def _parse(ir: str, triple: Optional[str] = None) -> Any:
    """IR text as a verified llvmlite module, or RuntimeErr with LLVM's message."""
    llvm = _llvm().llvm
    try:
        mod = llvm.parse_assembly(ir)
        if triple is not None:
            mod.triple = triple
        mod.verify()
    except RuntimeError as e:
        text = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise RuntimeErr(f"mch: {text}") from None
    return mod


def _error(f: Callable[[], Any]) -> Any:
    """f(), or the error value of the RuntimeErr it raised."""
    try:
        return f()
    except RuntimeErr as e:
        return {"err": e.message}


@builtin("__mch_targets", 0)
def targets(ctx: HostContext) -> list[dict[str, Any]]:
    """Every target with its triple and status: `native` (link and object) or `object`."""
    here = native_name()
    return [{"name": name, "triple": triple, "status": "native" if name == here else "object"}
            for name, triple in TRIPLES.items()]


@builtin("__mch_host", 0)
def host(ctx: HostContext) -> dict[str, Any]:
    """This machine as LLVM sees it: triple, CPU name and LLVM version."""
    llvm = _llvm().llvm
    return {"triple": llvm.get_default_triple(), "cpu": llvm.get_host_cpu_name(),
            "llvm": ".".join(str(n) for n in llvm.llvm_version_info)}


@builtin("__mch_ir_obj", 2)
def ir_obj(ctx: HostContext, ir: Any, target: Any) -> Any:
    """The object file (a buf) of IR text for a target name or triple, or `{err}`."""
    want("__mch_ir_obj", ir, "str")
    want("__mch_ir_obj", target, "str")

    def emit() -> bytearray:
        st = _llvm()
        triple = TRIPLES.get(target, target)
        tm = st.machines.get(triple)
        if tm is None:
            try:
                tm = st.llvm.Target.from_triple(triple).create_target_machine()
            except RuntimeError:
                raise RuntimeErr(f"mch: unknown target '{target}'") from None
            st.machines[triple] = tm
        return bytearray(tm.emit_object(_parse(ir, triple)))

    return _error(emit)


@builtin("__mch_link", 3, cap="ffi")
def link(ctx: HostContext, ir: Any, name: Any, sig: Any) -> Any:
    """An ilusm function calling function `name` of IR text natively, with signature sig
    (`f64(f64,i64)`: i64 and f64 only), or `{err}`."""
    want("__mch_link", ir, "str")
    want("__mch_link", name, "str")
    want("__mch_link", sig, "str")
    return _error(lambda: _link(ir, name, sig))


def _link(ir: str, name: str, sig: str) -> Builtin:
    """What __mch_link gives, or RuntimeErr."""
    m = _SIG.match(sig.replace(" ", ""))
    if m is None:
        raise RuntimeErr(f"mch: bad signature '{sig}' (write it like f64(i64,f64))")
    types = [m.group(1)] + (m.group(2).split(",") if m.group(2) else [])
    if native_name() is None:
        raise RuntimeErr("mch: this machine cannot run native code")
    st = _llvm()
    key = hashlib.sha256(ir.encode("utf-8", "surrogatepass")).hexdigest()
    mod = st.linked.get(key)
    if mod is None:
        mod = _parse(ir)
        _check_defined(mod)
        st.engine.add_module(mod)
        st.engine.finalize_object()
        st.linked[key] = mod
    _check_type(mod, name, sig, types)
    address = st.engine.get_function_address(name)
    import ctypes

    native = ctypes.CFUNCTYPE(*(getattr(ctypes, SCALARS[t][1]) for t in types))(address)
    return Builtin(name, len(types) - 1, _caller(name, types[1:], native))


def _check_defined(mod: Any) -> None:
    """RuntimeErr if the module uses a function or variable it does not define, other than LLVM's
    intrinsics, the LIBM functions and the C-API HELPERS: native code would jump to nothing."""
    for v in list(mod.functions) + list(mod.global_variables):
        if v.is_declaration and not v.name.startswith("llvm.") and v.name not in LIBM and v.name not in HELPERS:
            raise RuntimeErr(f"mch: the module uses '{v.name}', which it does not define")


def _check_type(mod: Any, name: str, sig: str, types: list[str]) -> None:
    """RuntimeErr unless the module defines `name` with exactly the signature's types."""
    try:
        fn = mod.get_function(name)
    except NameError:
        raise RuntimeErr(f"mch: no function '{name}' in the module") from None
    have = [str(t) for t in fn.global_value_type.elements]
    if fn.is_declaration or have != [SCALARS[t][0] for t in types]:
        raise RuntimeErr(f"mch: {name} is {fn.global_value_type}, not {sig}")


def _caller(name: str, params: list[str], native: Any) -> Callable[..., Any]:
    """The host entry of a linked function: check and convert each argument, call, give the result."""
    def call(ctx: HostContext, *args: Any) -> Any:
        return native(*(_scalar(name, i, t, v) for i, (t, v) in enumerate(zip(params, args))))
    return call


def _scalar(name: str, i: int, t: str, v: Any) -> int | float:
    """Argument i of a native call as its C type's Python value, or RuntimeErr."""
    if type(v) is not int and type(v) is not float:
        raise RuntimeErr(f"{name} expects a num as argument {i + 1}, got {type_name(v)}")
    if t == "f64":
        return float(v)
    if type(v) is float:
        if not v.is_integer():
            raise RuntimeErr(f"{name} expects an integer as argument {i + 1}, got {fmt_num(v)}")
        v = int(v)
    if not I64_MIN <= v <= I64_MAX:
        raise RuntimeErr(f"{name}: argument {i + 1} is out of range for i64")
    return v



def native_function(ir: str, name: str, optimise: bool = False) -> tuple[int, bytes]:
    """The address of function `name` of IR text, compiled into the process's one engine, and
    the object code MCJIT made of it: the JIT's way in (stage0/jit). The first compile of a
    trace runs no IR passes (cheap); with
    `optimise`, LLVM's O2 pipeline runs first and the function is renamed `<name>_o2`, so both
    versions can live in the engine. RuntimeErr with LLVM's message when the IR is refused."""
    st = _llvm()
    if optimise:
        ir = ir.replace(f"@{name}(", f"@{name}_o2(", 1)
        name += "_o2"
    key = hashlib.sha256(ir.encode("utf-8", "surrogatepass")).hexdigest()
    if key not in st.linked:
        mod = _parse(ir)
        _check_defined(mod)
        if optimise:
            _optimise(st, mod)
        st.engine.add_module(mod)
        st.engine.finalize_object()
        st.linked[key] = mod
        st.objects[key] = st.last_object
    return int(st.engine.get_function_address(name)), st.objects[key]


def load_object(data: bytes, name: str) -> int:
    """The address of function `name` of an object file MCJIT made (the JIT's disk cache), after
    adding it to the engine. The caller has verified the bytes: the loader is not hardened."""
    st = _llvm()
    st.engine.add_object_file(st.llvm.ObjectFileRef.from_data(data))
    st.engine.finalize_object()
    return int(st.engine.get_function_address(name))


def fingerprint() -> dict[str, str]:
    """What native code depends on besides its IR: LLVM's version, the triple, the CPU and its
    features (the JIT's cache keys hold it, so another machine's objects are never loaded)."""
    llvm = _llvm().llvm
    return {"llvm": ".".join(str(n) for n in llvm.llvm_version_info), "triple": llvm.get_default_triple(),
            "cpu": llvm.get_host_cpu_name(), "features": llvm.get_host_cpu_features().flatten()}


def _optimise(st: _Llvm, mod: Any) -> None:
    """Run LLVM's O2 module pipeline on mod, with a TargetMachine of its own (never the engine's)."""
    llvm = st.llvm
    tm = st.machines.get("opt")
    if tm is None:
        tm = st.machines["opt"] = llvm.Target.from_default_triple().create_target_machine(opt=2)
    pb = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=2))
    pb.getModulePassManager().run(mod, pb)
