"""The stage-0 VM: the reference interpreter for ILBC images.

Frames are Python lists `[closure, locals, stack, pc]` on `vm.frames`; an
ilusm call never recurses in Python, so recursion depth is bounded only by
`max_depth` (the catchable `stack overflow`). Builtins that call back into
ilusm (`try`, module loading) re-enter `run` with a base depth.

The loop in `run` handles the hottest opcodes inline, most frequent first:
an if-chain is the fastest dispatch CPython offers, and this loop is the
interpreter's whole cost. Every other opcode has a handler named after it in
`handlers.py`; the table of those is built once from the ISA table, and
`HOT` lists the opcodes the loop keeps inline. Semantics live in values.py.
"""
from __future__ import annotations

import sys
from types import FrameType
from typing import Any, Callable, Optional, TextIO

from stage0.errors import OUT_OF_MEMORY, RuntimeErr, TailCalls, arity_message
from stage0.hints import undefined_name
from stage0.host import all_builtins
from stage0.host.caps import narrow
from stage0.host.handles import Handles
from stage0.host.registry import DEFAULT_CAPS, HostContext, grant
from stage0.image.dis import instruction_texts
from stage0.image.model import Image
from stage0.interp.handlers import build_table
from stage0.interp.loader import ModuleRT, Proto, load
from stage0.isa import OPC
from stage0.values import (
    Builtin,
    Closure,
    GuestFn,
    Unset,
    add,
    arith,
    compare,
    eq,
    get_field,
    get_index,
    locals_text,
    show,
    truthy,
    type_name,
)

DEFAULT_MAX_DEPTH = 10_000
# Calls from the host back into ilusm (a builtin such as `try` or a `trl`
# callback calling a function) nest on the C stack: about 450 bytes each on
# the 512 MiB stack the CLI provides, which would run out near 1,200,000.
# Past this many, the call is the catchable `stack overflow`, whatever
# --max-depth says, so the host never crashes.
MAX_HOST_REENTRY = 200_000
# Python frames one ilusm frame may hold at most, so that the depth limit, not
# Python's recursion limit, is what overflows. The reference loop needs 3 for
# a function `try` calls back (VM.call, run, the builtin); the fast tier 5 (the
# entry and body versions of a tail-calling function, the builtin-call helper,
# the builtin, FastVM.call). One spare.
PY_FRAMES_PER_DEPTH = 6

(LOAD_LOCAL, STORE_LOCAL, PUSH_CONST, LOAD_GLOBAL, GET_FIELD, CALL, RET, JUMP, JUMP_UNLESS, JUMP_IF, POP, ADD,
 SUB, LT, EQ, GET_IDX, FOR_NEXT, FOR_NEXT2, LOAD_UPVAL, LOAD_CELL, DUP, CALL_TAIL, SYSCALL, PUSH_NIL, JUMP_IF_NIL,
 STORE_GLOBAL, STORE_CELL, LOAD_LOCAL2, LOAD_LOCAL_CONST, LOAD_LOCAL_FIELD, LT_JUMP_UNLESS,
 EQ_JUMP_UNLESS) = (OPC[name] for name in (
    "LOAD_LOCAL", "STORE_LOCAL", "PUSH_CONST", "LOAD_GLOBAL", "GET_FIELD", "CALL", "RET", "JUMP", "JUMP_UNLESS",
    "JUMP_IF", "POP", "ADD", "SUB", "LT", "EQ", "GET_IDX", "FOR_NEXT", "FOR_NEXT2", "LOAD_UPVAL", "LOAD_CELL", "DUP",
    "CALL_TAIL", "SYSCALL", "PUSH_NIL", "JUMP_IF_NIL", "STORE_GLOBAL", "STORE_CELL", "LOAD_LOCAL2",
    "LOAD_LOCAL_CONST", "LOAD_LOCAL_FIELD", "LT_JUMP_UNLESS", "EQ_JUMP_UNLESS"))
# The other compare-and-branch superinstructions: their comparison (the loop jumps when it is fls).
CMP_JUMPS = {
    OPC["NEQ_JUMP_UNLESS"]: lambda x, y: not eq(x, y),
    OPC["GT_JUMP_UNLESS"]: lambda x, y: x > y if x.__class__ is int and y.__class__ is int else compare(">", x, y),
    OPC["LE_JUMP_UNLESS"]: lambda x, y: x <= y if x.__class__ is int and y.__class__ is int else compare("<=", x, y),
    OPC["GE_JUMP_UNLESS"]: lambda x, y: x >= y if x.__class__ is int and y.__class__ is int else compare(">=", x, y),
}

# Opcodes the loop handles itself; the rest go through HANDLERS.
HOT = frozenset({LOAD_LOCAL, STORE_LOCAL, PUSH_CONST, LOAD_GLOBAL, GET_FIELD, CALL, RET, JUMP,
                 JUMP_UNLESS, JUMP_IF, POP, ADD, SUB, LT, EQ, GET_IDX, FOR_NEXT, FOR_NEXT2,
                 LOAD_UPVAL, LOAD_CELL, DUP, CALL_TAIL, SYSCALL, PUSH_NIL, JUMP_IF_NIL,
                 STORE_GLOBAL, STORE_CELL, LOAD_LOCAL2, LOAD_LOCAL_CONST, LOAD_LOCAL_FIELD,
                 LT_JUMP_UNLESS, EQ_JUMP_UNLESS, *CMP_JUMPS})
HANDLERS = build_table(HOT)
_MISSING = object()
STOPPED = object()  # what `run` gives when the frame being resumed reached a stop pc


def arity_error(name: str, want: int, got: int) -> RuntimeErr:
    """`add expects 2 arguments, got 3` (errors.arity_message)."""
    return RuntimeErr(arity_message(name, want, got))


def frame_sites(site: Callable[[list[Any]], tuple[Any, ...]], frames: list[list[Any]],
                tails: int = 0) -> list[Any]:
    """The trace entries of frames, outermost first: each frame's site, after a TailCalls
    entry when tail calls removed frames below it (tails more for the first frame)."""
    out: list[Any] = []
    for fr in frames:
        if fr[4] + tails:
            out.append(TailCalls(fr[4] + tails))
        out.append(site(fr))
        tails = 0
    return out


def not_granted(key: str, cap: str) -> str:
    """`module 'net' requires capability 'net', which is not granted` (the module's file stem)."""
    stem = key.rsplit("/", 1)[-1].removesuffix(".ilu")
    return f"module '{stem}' requires capability '{cap}', which is not granted"


class VM:
    """One ilusm process: loaded modules, builtins, the frame stack."""

    def __init__(self, image: Image, args: Optional[list[str]] = None, out: TextIO | None = None,
                 err_out: TextIO | None = None, max_depth: int = DEFAULT_MAX_DEPTH,
                 trace: TextIO | None = None, caps: frozenset[str] = DEFAULT_CAPS, jit: Any = None,
                 fs_root: Optional[str] = None) -> None:
        self.protos, self.modules = load(image)
        self.image = image  # --trace shows instructions as `dis` does, from the image
        self.entry = image.entry
        self.builtins: dict[str, Builtin] = all_builtins()
        self.args = list(args or [])
        self.out = out or sys.stdout
        self.err_out = err_out or sys.stderr
        self.max_depth = max_depth
        self.trace_out = trace
        self.caps = grant(caps)  # what capability-bearing builtins check on every call
        self.fs_root = fs_root   # the file sandbox (stage0/host/caps.py); None: unconfined
        self.read_roots: tuple[str, ...] = ()  # folders it may also read (see Toolchain.confined)
        self.handles = Handles()  # sockets and processes the program opened
        self.kern = ""            # what the kernel enforces since sbx.pledge (stage0/host/sbx.py)
        self.ceiling: Optional[frozenset[str]] = None  # the set the last pledge left
        self.cap_log: Optional[dict[str, tuple[str, str]]] = None  # --trace-caps (registry.first_use)
        self.probes: Any = None  # while it compiles a program (stage0/toolchain/progcache.py)
        # When this VM runs a VM written in ilusm: how a builtin calls back one of its guest's functions
        # (both are set by that VM through __vm_callback).
        self.guest_call: Optional[Callable[[GuestFn, list[Any]], Any]] = None
        self.guest_reflect: Optional[Callable[[GuestFn], Any]] = None  # and what one says of itself (rfl)
        self.show_locals = False  # traces carry each frame's locals (`ilusm run --locals`)
        self.frames: list[list[Any]] = []
        self.reentry = 0  # host calls into ilusm now active (see MAX_HOST_REENTRY)
        self.jit = jit  # a stage0.jit.runtime.Jit, told of every loop back edge; None: off
        self.guest_jit: Any = None  # the JIT of the guest program a self-hosted VM on this VM runs
        self.stop: Optional[list[Any]] = None  # [frame, stop pcs, armed]: see FastVM.resume_at

    # ---- entry points ----------------------------------------------------------

    def run_main(self) -> dict[str, Any]:
        """Run the entry module; returns its exported object. An entry module that declares
        `# @requires` runs holding only what it declares (the program's manifest)."""
        declared = self.modules[self.entry].requires
        if declared:
            self.caps = grant(narrow(self.caps, frozenset(declared)))
        return self.import_module(self.entry)

    def import_module(self, index: int) -> dict[str, Any]:
        """Run module `index` once; later imports get the same object."""
        m = self.modules[index]
        if m.state == ModuleRT.DONE:
            return m.export
        if m.state == ModuleRT.RUNNING:
            raise RuntimeErr(f"import cycle through {m.key}")
        for cap in m.requires:  # layer 1: the module's declared needs, before its body runs
            if cap not in self.caps:
                raise RuntimeErr(not_granted(m.key, cap))
        m.state = ModuleRT.RUNNING
        self.call(Closure(m.main, (), m), [])
        m.export = {k: v for k, v in m.globals.items() if not k.startswith("_")}
        m.state = ModuleRT.DONE
        return m.export

    def call(self, f: Any, args: list[Any]) -> Any:
        """Call an ilusm function from the host (builtins, module bodies)."""
        if type(f) is Builtin:
            if f.arity >= 0 and f.arity != len(args):
                raise arity_error(f.name, f.arity, len(args))
            return f.fn(self, *args)
        if type(f) is not Closure:
            if type(f) is GuestFn and self.guest_call is not None:
                return self.guest_call(f, args)
            raise RuntimeErr(f"cannot call {type_name(f)}")
        p = f.proto
        if p.arity != len(args):
            raise arity_error(p.name, p.arity, len(args))
        if len(self.frames) >= self.max_depth or self.reentry >= MAX_HOST_REENTRY:
            raise RuntimeErr("stack overflow")
        base = len(self.frames)
        self.frames.append([f, list(args) + p.pad, [], 0, 0])
        old = self.raise_recursion_limit() if self.reentry == 0 else 0
        self.reentry += 1
        try:
            return self.run(base)
        finally:
            self.reentry -= 1
            if old:
                sys.setrecursionlimit(old)

    def raise_recursion_limit(self) -> int:
        """Make room for max_depth ilusm frames above the current Python stack; give the old limit.

        Called by the outermost host call, so that `stack overflow` comes from the
        depth count, at the same depth on every engine, and never from Python.
        """
        old = sys.getrecursionlimit()
        depth = 0
        fr: Optional[FrameType] = sys._getframe(1)
        while fr is not None:
            depth, fr = depth + 1, fr.f_back
        need = depth + PY_FRAMES_PER_DEPTH * self.max_depth + 2 * len(self.protos) + 1_000
        if need > old:
            sys.setrecursionlimit(need)
        return old

    def global_missing(self, g: dict[str, Any], name: str) -> Any:
        """Slow path of LOAD_GLOBAL: a nil global, a builtin, or an error."""
        if name in g:
            return g[name]
        b = self.builtins.get(name)
        if b is None:
            raise RuntimeErr(undefined_name(name))
        return b

    def unset_error(self, fr: list[Any], slot: int, upval: bool = False) -> RuntimeErr:
        """The error for reading a variable before its first assignment."""
        p: Proto = fr[0].proto
        names = p.upval_names if upval else p.local_names
        name = names[slot] if slot < len(names) else f"#{slot}"
        return RuntimeErr(f"name '{name}' used before assignment")

    # ---- the interpreter loop --------------------------------------------------

    def run(self, base: int) -> Any:
        """Execute frames until the frame at depth `base` returns; give its value."""
        # Long on purpose: the dispatch loop must keep pc, stack and locals in
        # Python locals; splitting it into helpers would add a call per instruction.
        frames = self.frames
        fr = frames[-1]
        clo, locs, stack, pc, _ = fr
        code = clo.proto.code
        g = clo.module.globals
        push, pop = stack.append, stack.pop
        trace = self.trace_out if self.stop is None else self.stop
        jit = self.jit
        try:
            while True:
                if trace is not None and self.trace_step(fr, pc, stack):
                    fr[3] = pc
                    return STOPPED
                op, a, b = code[pc]
                pc += 1
                if op == LOAD_LOCAL:
                    v = locs[a]
                    if v.__class__ is Unset:
                        raise self.unset_error(fr, a)
                    push(v)
                elif op == LOAD_LOCAL2:
                    v = locs[a]
                    w = locs[b]
                    if v.__class__ is Unset or w.__class__ is Unset:
                        raise self.unset_error(fr, a if v.__class__ is Unset else b)
                    push(v)
                    push(w)
                elif op == PUSH_CONST:
                    push(a)
                elif op == LOAD_LOCAL_CONST:
                    v = locs[a]
                    if v.__class__ is Unset:
                        raise self.unset_error(fr, a)
                    push(v)
                    push(b)
                elif op == LOAD_LOCAL_FIELD:
                    v = locs[a]
                    if v.__class__ is Unset:
                        raise self.unset_error(fr, a)
                    push(v.get(b) if v.__class__ is dict else get_field(v, b))
                elif op == LT_JUMP_UNLESS:
                    y = pop()
                    x = pop()
                    if not (x < y if x.__class__ is int and y.__class__ is int else compare("<", x, y)):
                        pc = a
                elif op == EQ_JUMP_UNLESS:
                    y = pop()
                    x = pop()
                    if not (x == y if x.__class__ is y.__class__ and (x.__class__ is str or x.__class__ is int)
                            else eq(x, y)):
                        pc = a
                elif op == STORE_LOCAL:
                    locs[a] = pop()
                elif op == LOAD_GLOBAL:
                    v = g.get(a)
                    push(self.global_missing(g, a) if v is None else v)
                elif op == JUMP_UNLESS:
                    v = pop()
                    if v is False or v is None or (v is not True and not truthy(v)):
                        pc = a
                elif op == GET_FIELD:
                    o = stack[-1]
                    stack[-1] = o.get(a) if o.__class__ is dict else get_field(o, a)
                elif op == JUMP:
                    if a < pc and jit is not None and not stack:
                        r = jit.back_edge(clo.proto, a, pc - 1, locs, g, self.max_depth - len(frames))
                        if r is not None:
                            pc = r[0]
                            stack += r[1]
                            continue
                    pc = a
                elif op == CALL or op == CALL_TAIL:
                    f = stack[-a - 1]
                    if f.__class__ is Closure:
                        p = f.proto
                        if p.arity != a:
                            raise arity_error(p.name, p.arity, a)
                        if a:
                            nl = stack[-a:] + p.pad
                            del stack[-a - 1:]
                        else:
                            pop()
                            nl = p.pad[:]
                        if op == CALL:
                            if len(frames) >= self.max_depth:
                                raise RuntimeErr("stack overflow")
                            fr[3] = pc
                            fr = [f, nl, [], 0, 0]
                            frames.append(fr)
                        else:  # the new frame counts the frames tail calls removed (traces show them)
                            fr = [f, nl, [], 0, fr[4] + 1]
                            frames[-1] = fr
                        clo, locs, stack, pc, _ = fr
                        push, pop = stack.append, stack.pop
                        code = p.code
                        g = f.module.globals
                    elif f.__class__ is Builtin:
                        args = stack[-a:] if a else []
                        del stack[-a - 1:]
                        if f.arity != a and f.arity >= 0:
                            raise arity_error(f.name, f.arity, a)
                        fr[3] = pc
                        push(f.fn(self, *args))
                    else:
                        raise RuntimeErr(f"cannot call {type_name(f)}")
                elif op == RET:
                    v = pop()
                    frames.pop()
                    if len(frames) == base:
                        return v
                    fr = frames[-1]
                    clo, locs, stack, pc, _ = fr
                    push, pop = stack.append, stack.pop
                    code = clo.proto.code
                    g = clo.module.globals
                    push(v)
                elif op == POP:
                    pop()
                elif op == ADD:
                    y = pop()
                    x = stack[-1]
                    if x.__class__ is int and y.__class__ is int:
                        stack[-1] = x + y
                    elif x.__class__ is str and y.__class__ is str:
                        stack[-1] = x + y
                    else:
                        stack[-1] = add(x, y)
                elif op == LT:
                    y = pop()
                    x = stack[-1]
                    if x.__class__ is int and y.__class__ is int:
                        stack[-1] = x < y
                    else:
                        stack[-1] = compare("<", x, y)
                elif op == EQ:
                    y = pop()
                    x = stack[-1]
                    if x.__class__ is y.__class__ and (x.__class__ is str or x.__class__ is int):
                        stack[-1] = x == y
                    else:
                        stack[-1] = eq(x, y)
                elif op == SUB:
                    y = pop()
                    x = stack[-1]
                    if x.__class__ is int and y.__class__ is int:
                        stack[-1] = x - y
                    else:
                        stack[-1] = arith("-", x, y)
                elif op == FOR_NEXT:
                    v = next(locs[a], _MISSING)
                    if v is _MISSING:
                        pc = b
                    else:
                        push(v)
                elif op == GET_IDX:
                    i = pop()
                    o = stack[-1]
                    if o.__class__ is list and i.__class__ is int and -len(o) <= i < len(o):
                        stack[-1] = o[i]
                    else:
                        stack[-1] = get_index(o, i)
                elif op == JUMP_IF:
                    v = pop()
                    if v is True or (v is not False and v is not None and truthy(v)):
                        pc = a
                elif op == DUP:
                    push(stack[-1])
                elif op == PUSH_NIL:
                    push(None)
                elif op == STORE_GLOBAL:
                    g[a] = pop()
                elif op == LOAD_UPVAL:
                    v = clo.upvals[a].v
                    if v.__class__ is Unset:
                        raise self.unset_error(fr, a, upval=True)
                    push(v)
                elif op == LOAD_CELL:
                    v = locs[a].v
                    if v.__class__ is Unset:
                        raise self.unset_error(fr, a)
                    push(v)
                elif op == STORE_CELL:
                    locs[a].v = pop()
                elif op == SYSCALL:
                    fr[3] = pc
                    args = stack[-b:] if b else []
                    if b:
                        del stack[-b:]
                    push(self.syscall(a, args))
                elif op == FOR_NEXT2:
                    pair = next(locs[a], None)
                    if pair is None:
                        pc = b
                    else:
                        push(pair[0])
                        push(pair[1])
                elif op == JUMP_IF_NIL:
                    if stack[-1] is None:
                        pc = a
                elif op in CMP_JUMPS:
                    y = pop()
                    if not CMP_JUMPS[op](pop(), y):
                        pc = a
                else:
                    fr[3] = pc
                    HANDLERS[op](self, fr, stack, a, b)
        except RuntimeErr as e:
            fr[3] = pc
            self.unwind(e, base)
            raise
        except RecursionError:
            fr[3] = pc
            overflow = RuntimeErr("stack overflow")
            self.unwind(overflow, base)
            raise overflow from None
        except MemoryError:
            fr[3] = pc
            oom = RuntimeErr(OUT_OF_MEMORY)
            self.unwind(oom, base)
            raise oom from None

    def syscall(self, name: str, args: list[Any]) -> Any:
        """SYSCALL: call a host builtin by name."""
        f = self.builtins.get(name)
        if f is None:
            raise RuntimeErr(f"unknown host builtin '{name}'")
        if f.arity >= 0 and f.arity != len(args):
            raise arity_error(name, f.arity, len(args))
        return f.fn(self, *args)

    def unwind(self, e: RuntimeErr, base: int) -> None:
        """Record the trace (once, innermost error site) and drop frames above base."""
        if not e.traced():
            # Copy only the frame list now; the sites are read if the error is ever shown
            # (the frames above base are discarded, those below stop when it escapes).
            frames = list(self.frames)
            e.pending = lambda: frame_sites(self.frame_site, frames)
        del self.frames[base:]

    def current_site(self) -> str:
        """`file:line` of the innermost ilusm frame (for --trace-caps)."""
        if not self.frames:
            return "?"
        site = self.frame_site(self.frames[-1])  # (name, file, line[, locals])
        return f"{site[1]}:{site[2]}"

    def frame_site(self, fr: list[Any]) -> tuple[Any, ...]:
        """(function name, file, line) of a frame at its current instruction, and its locals
        text when the VM shows locals."""
        clo, slots, _, pc, _ = fr
        lines = clo.proto.lines
        line = lines[max(pc - 1, 0)] if lines else 0
        if self.show_locals:
            return clo.proto.name, clo.module.file, line, locals_text(list(zip(clo.proto.local_names, slots)))
        return clo.proto.name, clo.module.file, line

    def trace_step(self, fr: list[Any], pc: int, stack: list[Any]) -> bool:
        """`--trace`: one line per executed instruction, as `dis` shows it (byte offset, name,
        operands), then the top of the stack. True when frame `fr` reached a stop pc (resume_at)."""
        stop = self.stop
        if stop is not None:
            if fr is stop[0]:
                if stop[2] and pc in stop[1]:
                    return True
                stop[2] = True  # the frame's first instruction runs even at a stop pc
            if self.trace_out is None:
                return False
        proto: Proto = fr[0].proto
        cache = self.__dict__.setdefault("_trace_texts", {})  # only tracing VMs pay for it
        texts = cache.get(proto.index) or cache.setdefault(proto.index, instruction_texts(self.image, proto.index))
        off, text = texts[pc]
        shown = ", ".join(_short(v) for v in stack[-4:])
        assert self.trace_out is not None
        self.trace_out.write(f"{proto.name:>12} {off:04d} {text:<32} [{shown}]\n")
        return False


def _short(v: Any) -> str:
    """A bounded printed form for traces."""
    s = show(v)
    return s if len(s) <= 24 else s[:21] + "..."


def _as_context(vm: VM) -> HostContext:
    """(For mypy: a VM is the host context its builtins see.)"""
    return vm
