"""The fast host tier: each ILBC function translated once into Python code.

`FastVM` is the reference `VM` with one change: a function runs as Python code
generated from its ILBC instead of through the interpreter loop. A function
is translated on its first call (a toolchain image has hundreds of functions;
most programs run few) and kept for the life of the VM. docs/fast_tier.md has
a worked example; in short:

* Stack depths are static (the verifier guarantees one depth per
  instruction), so stack slot k is the Python local `sk`, and ilusm local n
  is `ln` (parameters first, as Python parameters). The translator keeps a
  symbolic stack: constants and variables are not copied, operations become
  expressions written straight into the code that consumes them, and
  anything that may raise or has an effect still happens in instruction
  order (and on its own source line, for traces).
* Basic blocks become structured Python: conditional jumps become `if/elif/
  else`, loops `while True:` (or `for` over the iterator of a `x <- e`
  loop), `brk`/`cnt` become `break`/`continue`, joins the code after an `if`;
  small join blocks are duplicated. Control flow that does not fit (a jump
  out of several constructs, an irreducible loop, more nesting than Python
  allows) falls back to a `while True:` dispatch over block numbers, and
  then to one dispatch case per block.
* The common cases of the hot opcodes are inlined (int arithmetic and
  comparison, str concatenation, identity tests against nil/tru/fls, dict
  fields, list indexing, global and builtin lookup). Every other case calls
  the shared functions of values.py (the value semantics every engine uses) or the VM's
  own methods, so every result and every message is the reference's.
* An ilusm call is a direct Python call of the callee's generated function,
  found in a per-arity table keyed by prototype (a prototype of another
  arity finds a function that raises the reference's arity error). Builtins
  are called through a small helper per argument count. A tail call returns
  a `Tail` marker to a trampoline in the nearest non-tail caller, so a
  million-step tail loop runs in constant Python stack; a function that
  tail-calls itself just loops.
* Depth: every generated function takes its frame depth `d` (the number of
  active ilusm frames, itself included) and raises the catchable `stack
  overflow` when it exceeds `max_depth`; a call passes `d + 1`, a tail call
  passes `d` on (the callee replaces the frame). Before calling a builtin,
  which may call back into ilusm, the depth is stored in the global `D`,
  where `FastVM.call` goes on counting. This is the reference VM's count
  exactly, for one argument and one comparison per call.
* A function too big to translate with profit (`INTERPRET_FROM`) runs on the
  reference loop inside this VM, counting depth the same way.
* Traces: every generated code object maps its Python lines to ILBC source
  lines. An uncaught error's trace is rebuilt from the Python traceback and
  the live frames above it, skipping lines that stand for no ilusm frame
  (prologues, trampolines), so it equals the reference VM's trace.
"""
from __future__ import annotations

import functools
import sys
import warnings
from types import CodeType, FrameType, TracebackType
from typing import Any, Callable, Optional, TextIO

from stage0.errors import OUT_OF_MEMORY, Entry, RuntimeErr, TailCalls
from stage0.fast.flow import OPS, SKIP, TRAMP, Flow, Unstructured
from stage0.fast.gen import Env, Line, Translator
from stage0.host.registry import DEFAULT_CAPS
from stage0.image.model import Image
from stage0.interp.loader import Proto
from stage0.interp.vm import DEFAULT_MAX_DEPTH, MAX_HOST_REENTRY, STOPPED, VM, arity_error, frame_sites
from stage0.values import (
    UNSET,
    Builtin,
    Cell,
    Closure,
    add,
    arith,
    compare,
    eq,
    get_field,
    get_index,
    iter_items,
    iter_pairs,
    iter_range,
    locals_text,
    make_obj,
    make_range,
    neg,
    range_list,
    set_field,
    set_index,
    to_str,
    truthy,
    type_name,
)


class Tail(tuple):  # type: ignore[type-arg]
    """A pending tail call `(function, args, frames it removes)`, returned to the nearest trampoline
    (the count is one, plus the self tail calls of the frame that returns it: traces show them)."""

    __slots__ = ()


def _cannot_call(f: Any) -> RuntimeErr:
    """The reference loop's error for calling a non-function."""
    return RuntimeErr(f"cannot call {type_name(f)}")


def _wrong_arity(clo: Any, depth: int, *args: Any) -> Any:
    """Stands in the per-arity call tables for every function of another arity."""
    p = clo.proto
    raise arity_error(p.name, p.arity, len(args))


# ---- the VM --------------------------------------------------------------------------

class FastVM(VM):
    """The reference VM with every ilusm function run as generated Python code."""

    # Emission modes, tried in order: structured code, a dispatch loop, one case per block.
    MODES: tuple[str, ...] = ("struct", "dispatch", "flat")
    # Functions longer than this (in instructions) run on the reference loop: translating
    # them costs time and memory out of proportion (a million-statement module body took
    # minutes and gigabytes), and they are module bodies run once, not hot code.
    INTERPRET_FROM = 20_000

    def __init__(self, image: Image, args: Optional[list[str]] = None, out: TextIO | None = None,
                 err_out: TextIO | None = None, max_depth: int = DEFAULT_MAX_DEPTH,
                 trace: TextIO | None = None, caps: frozenset[str] = DEFAULT_CAPS, jit: Any = None,
                 fs_root: Optional[str] = None) -> None:
        super().__init__(image, args=args, out=out, err_out=err_out, max_depth=max_depth, trace=trace, caps=caps,
                         jit=jit, fs_root=fs_root)
        # Inline what these methods do when they are the reference VM's own (not overridden).
        self.inline_builtins = type(self).global_missing is VM.global_missing
        self.inline_syscall = type(self).syscall is VM.syscall
        self.ref_offset: Optional[int] = None  # frames below the reference loop's, while it runs
        self.codemap: dict[CodeType, tuple[Proto, list[int]]] = {}
        self.sources: dict[Proto, str] = {}   # generated source of each translated prototype
        self.modes: dict[Proto, str] = {}     # struct | dispatch | flat
        # Serial numbers name a prototype's namespace entries: the image's own are their index;
        # another image's (a closure that came in through shared globals, as in the REPL) come after.
        self.serial: dict[Proto, int] = {p: p.index for p in self.protos}
        # Call tables, prototype -> Python function: exact dicts (the fastest lookup CPython has),
        # holding every prototype the VM knows; `adopt` adds one from another image.
        self._entry: dict[Proto, Callable[..., Any]] = {}
        self._body: dict[Proto, Callable[..., Any]] = {}
        self._tables: dict[int, dict[Proto, Callable[..., Any]]] = {}
        for p in self.protos:
            self.adopt(p)
        self.ns: dict[str, Any] = {
            "__builtins__": __builtins__, "D": 0, "MAX": max_depth, "vm": self, "BI": self.builtins,
            "MISS": _MISS, "UNSET": UNSET, "Closure": Closure, "Builtin": Builtin, "Cell": Cell,
            "Tail": Tail, "TB": self._body, "RuntimeErr": RuntimeErr, "arity_error": arity_error,
            "cannot_call": _cannot_call, "add": add, "arith": arith, "compare": compare, "eq": eq, "NUMS": (int, float),
            "truthy": truthy, "neg": neg, "to_str": to_str, "make_range": make_range, "range_list": range_list,
            "get_index": get_index, "set_index": set_index, "get_field": get_field, "set_field": set_field,
            "make_obj": make_obj, "iter_items": iter_items, "iter_pairs": iter_pairs, "iter_range": iter_range,
        }
        if jit is not None:  # generated loops call JL every JT back edges (JitHooks.back_edge)
            jit.bind(self)
            self.ns["JL"] = functools.partial(jit.fast_loop, self)

    # ---- lazy translation ----

    def _stub(self, proto: Proto, body: bool) -> Callable[..., Any]:
        """Stands in the tables until proto is first called; translates it and forwards."""

        def stub(clo: Any, depth: int, *args: Any) -> Any:
            self.translate(proto)
            return (self._body if body else self._entry)[proto](clo, depth, *args)

        return stub

    def arity_table_name(self, argc: int, names: dict[str, Any]) -> str:
        """The call table for argc arguments: entry functions, or the arity error for other arities."""
        if argc not in self._tables:
            t = {p: fn if p.arity == argc else _wrong_arity for p, fn in self._entry.items()}
            self._tables[argc] = t
            self.ns[f"A{argc}"] = t
        return f"A{argc}"

    def adopt(self, proto: Proto) -> None:
        """Enter a prototype in the call tables (a stub translates it on its first call)."""
        if proto in self._entry:
            return
        self._entry[proto] = self._stub(proto, False)
        self._body[proto] = self._stub(proto, True)
        for argc, t in self._tables.items():
            t[proto] = self._entry[proto] if proto.arity == argc else _wrong_arity

    def adopt_reachable(self, roots: list[Any]) -> None:
        """Adopt the prototype of every closure reachable from roots (values of another image,
        such as the globals a REPL shares between the images it runs)."""
        seen: set[int] = set()
        work = list(roots)
        while work:
            v = work.pop()
            t = type(v)
            if t is Closure:
                if v.proto not in self._entry:
                    self.adopt(v.proto)
                work.extend(c.v for c in v.upvals if type(c) is Cell)
            elif (t is list or t is dict) and id(v) not in seen:
                seen.add(id(v))
                work.extend(v.values() if t is dict else v)

    def host_call_name(self, argc: int) -> str:
        """A helper calling a builtin with argc arguments (or raising the reference's call errors)."""
        name = f"X{argc}"
        if name not in self.ns:
            params = "".join(f", a{i}" for i in range(argc))
            src = (f"def {name}(f, d{params}):\n"
                   f"    global D\n"
                   f"    if f.__class__ is Builtin:\n"
                   f"        if f.arity != {argc} and f.arity >= 0: raise arity_error(f.name, f.arity, {argc})\n"
                   f"        D = d\n"
                   f"        return f.fn(vm{params})\n"
                   f"    raise cannot_call(f)\n")
            exec(compile(src, f"<ilusm:call{argc}>", "exec"), self.ns)
        return name

    def serial_of(self, proto: Proto) -> int:
        """A prototype's number in namespace names."""
        n = self.serial.get(proto)
        if n is None:
            n = self.serial[proto] = len(self.serial)
        return n

    def translate(self, proto: Proto) -> None:
        """Generate, compile and install the Python code of a prototype (once)."""
        if proto in self.sources:
            return
        if len(proto.code) > self.INTERPRET_FROM:
            self.interpret(proto)
            return
        i = self.serial_of(proto)
        flow = Flow(proto)
        tr = Translator(proto, flow, self)
        # Any string is a valid function name in an image: only ASCII letters and digits of it go
        # into identifiers (for reading), and the file name holds it escaped.
        safe = "".join(c if c.isascii() and c.isalnum() else "_" for c in proto.name)
        fname = f"f{i}_{safe}"
        bname = f"t{i}_{safe}"
        filename = f"<ilusm:{ascii(proto.name)[1:-1]}#{i}>"
        modes = [m for m in self.MODES if flow.reducible or m != "struct"]
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(limit + 10_000)  # the emitter recurses once per nesting level
        try:
            for mode in modes:
                try:
                    lines = tr.function(fname, mode, False)
                    if tr.has_tail:
                        lines = lines + tr.function(bname, mode, True)
                    src, linemap = _render(lines, proto)
                    with warnings.catch_warnings():  # literal operands make CPython warn about dead paths
                        warnings.simplefilter("ignore")
                        code = compile(src, filename, "exec")
                    break
                except (Unstructured, SyntaxError, RecursionError, MemoryError):
                    continue  # the next mode, or the reference loop
            else:
                self.interpret(proto)  # no emission mode fits: the reference loop runs it
                return
        finally:
            sys.setrecursionlimit(limit)
        self.ns.update(tr.names)
        for op, a, _ in proto.code:
            if op == OPS["MAKE_CLOSURE"]:
                self.adopt(a)
        exec(code, self.ns)
        entry = self.ns.pop(fname)
        body = self.ns.pop(bname) if tr.has_tail else entry
        self.codemap[entry.__code__] = (proto, linemap)
        self.codemap[body.__code__] = (proto, linemap)
        self.sources[proto] = src
        self.modes[proto] = mode
        self._entry[proto] = entry
        self._body[proto] = body
        t = self._tables.get(proto.arity)
        if t is not None:
            t[proto] = entry

    def retranslate(self, proto: Proto) -> None:
        """Translate a prototype again on its next call (the JIT settled one of its loops, so its
        counter goes); frames running the old code finish in it."""
        if self.modes.get(proto) in (None, "interpret") or self.sources.pop(proto, None) is None:
            return
        self._entry[proto] = self._stub(proto, False)
        self._body[proto] = self._stub(proto, True)
        t = self._tables.get(proto.arity)
        if t is not None:
            t[proto] = self._entry[proto]

    def interpret(self, proto: Proto) -> None:
        """Install the reference loop as a prototype's code (for functions translation cannot pay for)."""
        ns = self.ns

        def interpreted(clo: Any, d: int, *args: Any) -> Any:
            if d > ns["MAX"]:
                raise RuntimeErr("stack overflow")
            return self.run_interpreted(clo, d, args)

        for op, a, _ in proto.code:
            if op == OPS["MAKE_CLOSURE"]:
                self.adopt(a)
        self.sources[proto] = ""
        self.modes[proto] = "interpret"
        self._entry[proto] = self._body[proto] = interpreted
        t = self._tables.get(proto.arity)
        if t is not None:
            t[proto] = interpreted

    def run_interpreted(self, clo: Any, d: int, args: tuple[Any, ...]) -> Any:
        """Run one call of an interpreted function, at depth d, on the reference loop.

        The loop gets a frame list of its own (its callees run in it too) and
        a limit lowered by the d - 1 frames below, so it counts depth exactly;
        `ref_offset` lets a builtin's call back (FastVM.call) find the depth.
        """
        saved = self.frames, self.max_depth, self.ref_offset
        frames = [[clo, list(args) + clo.proto.pad, [], 0, 0]]
        self.frames, self.max_depth, self.ref_offset = frames, self.ns["MAX"] - (d - 1), d - 1
        try:
            return self.run(0)
        finally:
            self.frames, self.max_depth, self.ref_offset = saved

    def resume_at(self, clo: Any, d: int, locs: list[Any], pc: int, stack: list[Any],
                  stops: frozenset[int]) -> tuple[Optional[int], Any]:
        """Run a generated function's frame on the reference loop from pc (where a JIT trace left
        it) until it reaches one of the stop pcs, where its code can take over again, or returns.
        The instruction at pc always runs, even when pc is a stop.

        Gives (the stop pc, None) or (None, the returned value); locs is updated in place. The
        depth is counted as in run_interpreted, and an error's trace shows this frame.
        """
        saved = self.frames, self.max_depth, self.ref_offset, self.stop
        fr = [clo, locs, list(stack), pc, 0]
        frames = [fr]
        self.frames, self.max_depth, self.ref_offset = frames, self.ns["MAX"] - (d - 1), d - 1
        self.stop = [fr, stops, False]
        try:
            v = self.run(0)
            return (fr[3], None) if v is STOPPED else (None, v)
        finally:
            self.frames, self.max_depth, self.ref_offset, self.stop = saved

    def unwind(self, e: RuntimeErr, base: int) -> None:
        """An error in an interpreted function: its trace is built now, while the loop's frames exist."""
        if e.traced():
            e.trace = e.trace  # a call back's pending trace walks these frames too: build it now
        else:
            e.trace = self.trace_of(sys._getframe(1), None)
        del self.frames[base:]

    def source(self, proto: Proto) -> str:
        """The generated Python source of a prototype (translating it if needed)."""
        self.translate(proto)
        return self.sources[proto]

    # ---- host entry ----

    def run_main(self) -> dict[str, Any]:
        """Run the entry module (closures already in its globals may come from another image)."""
        self.adopt_reachable([m.globals for m in self.modules])
        return super().run_main()

    def call(self, f: Any, args: list[Any]) -> Any:
        """Call an ilusm function from the host (builtins, module bodies) through its generated code."""
        if type(f) is not Closure:
            return super().call(f, args)
        p = f.proto
        if p.arity != len(args):
            raise arity_error(p.name, p.arity, len(args))
        if p not in self._entry:
            self.adopt(p)
        if self.reentry >= MAX_HOST_REENTRY:
            raise RuntimeErr("stack overflow")
        ns = self.ns
        outer = self.max_depth, self.ref_offset
        if self.ref_offset is None:
            ns["MAX"] = self.max_depth
            base = ns["D"]  # the depth of the frame whose builtin calls back (0 from outside)
        else:  # called back from a builtin the reference loop runs (an interpreted function)
            base = self.ref_offset + len(self.frames)
            self.max_depth, self.ref_offset = ns["MAX"], None
        old = self.raise_recursion_limit() if self.reentry == 0 else 0
        self.reentry += 1
        try:
            return self._entry[p](f, base + 1, *args)
        except RuntimeErr as e:
            if not e.traced():
                e.pending = self.trace_later(sys._getframe(0), e.__traceback__)
            raise
        except RecursionError as e:
            err = RuntimeErr("stack overflow")
            err.pending = self.trace_later(sys._getframe(0), e.__traceback__)
            raise err from None
        except MemoryError as e:
            err = RuntimeErr(OUT_OF_MEMORY)
            err.pending = self.trace_later(sys._getframe(0), e.__traceback__)
            raise err from None
        finally:
            ns["D"] = base
            self.max_depth, self.ref_offset = outer
            self.reentry -= 1
            if old:
                sys.setrecursionlimit(old)

    def current_site(self) -> str:
        """`file:line` of the innermost ilusm frame, read from the Python stack (for --trace-caps)."""
        sites = [s for s in self.trace_of(sys._getframe(1), None) if isinstance(s, tuple)]
        return f"{sites[-1][1]}:{sites[-1][2]}" if sites else "?"

    def trace_later(self, here: FrameType, tb: Optional[TracebackType]) -> Callable[[], list[Entry]]:
        """A builder of the trace of an error caught in frame `here` (see RuntimeErr.pending).

        The frames outside `here` keep the lines they had: an error that is
        shown has unwound them, and one that `try` caught is never shown.
        """
        return lambda: self.trace_of(here.f_back, tb)

    def trace_of(self, outer: Optional[FrameType], tb: Optional[TracebackType]) -> list[Entry]:
        """(name, file, line) of every active ilusm frame, outermost first, from the Python stack."""
        sites: list[tuple[FrameType, Optional[int]]] = []
        fr = outer
        while fr is not None:
            sites.append((fr, fr.f_lineno))
            fr = fr.f_back
        sites.reverse()
        while tb is not None:
            sites.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        trace: list[Any] = []
        tails = 0  # tail calls a trampoline followed into the next frame
        for frame, lineno in sites:
            if frame.f_code in _REF_LOOPS:
                trace.extend(frame_sites(self.frame_site, frame.f_locals["frames"], tails))
                tails = 0
                continue
            info = self.codemap.get(frame.f_code)
            if info is None or lineno is None:
                continue
            proto, linemap = info
            line = linemap[lineno] if 0 <= lineno < len(linemap) else SKIP
            if line == TRAMP:
                tails = frame.f_locals.get("n_", 0)
            if line < 0:
                continue
            tails += frame.f_locals.get("t_", 0)
            if tails:
                trace.append(TailCalls(tails))
                tails = 0
            clo = frame.f_locals.get("clo")
            site: tuple[Any, ...] = (proto.name, clo.module.file if clo is not None else "?", line)
            if self.show_locals:
                slots = frame.f_locals
                site += (locals_text([(n, slots.get(f"l{i}", UNSET)) for i, n in enumerate(proto.local_names)]),)
            trace.append(site)
        return trace


class _Missing:
    """Marks a missing dictionary entry or an exhausted iterator."""

    __slots__ = ()


_MISS = _Missing()
# The methods that run generated functions' frames on the reference loop, in a list named `frames`.
_REF_LOOPS = (FastVM.run_interpreted.__code__, FastVM.resume_at.__code__)


def _render(lines: list[Line], proto: Proto) -> tuple[str, list[int]]:
    """Source text and its line map (Python line -> ilusm line, or SKIP)."""
    text = []
    linemap = [SKIP]
    plines = proto.lines
    for ind, t, tag in lines:
        text.append("    " * ind + t)
        linemap.append(plines[tag] if tag >= 0 and plines else tag if tag < 0 else SKIP)
    return "\n".join(text) + "\n", linemap


def _as_env(vm: FastVM) -> Env:
    """A FastVM is what a translation needs (mypy checks it here, once)."""
    return vm
