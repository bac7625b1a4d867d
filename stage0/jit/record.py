"""The recorder: one iteration of a hot loop, run dry from its header.

The JIT (stage0/jit/runtime.py) calls `record` when a loop header gets hot.
It runs the loop's next iteration on copies of the locals, with the same
semantic functions the interpreters use (stage0/values.py), so every branch
goes the way the real run will go, and writes down what ran: each
instruction with its operand kinds and, for a branch, which way it went.
Nothing of the real state changes; the interpreter then runs the iteration
itself. Superinstructions are written as their parts (at the fused
instruction's pc), so the trace compiler knows only the plain opcodes.

The result is plain ilusm data for lib/backend/jit.ilu's `compile_trace`:

    {fn, nlocals, header, end, entry: [[slot, kind]...],
     ops: [[pc, op, a, b, kinds, taken, operator, kind(, element)]...], ctx: [[slot, kind]...],
     globals: [[scope, name]...]}

An op's kinds are those of the stack operands it takes; `operator` is the
infix operator of a binary operation (isa.OPERATOR); `kind` is that of the
value it reads or pushes without taking it from the stack (a local, a
constant, an iterator), else None. GET_IDX and FOR_NEXT over a list add the
kind of the element they read (int, flt or lst), which the trace guards. `ctx`
names the iterators whose context words the glue fills.

Kinds: "int" (fits i64), "flt", "bool", "nil", "rng" (a range iterator),
"lst" (a list, only indexed), "lit" (a list's iterator) and "fn" (a function
read from a global, only called). A recording that meets anything else stops
with `Abort(reason)`; the reason is what `jit.stats()` shows.

Calls are inlined. A call of a global ilusm function is written as a CALL op
(a: the first slot of the callee's locals, which follow the caller's; b:
their number), STORE_LOCAL ops of the arguments into those slots and a POP of
the function; then the callee's ops, its slots moved up by that base; then a
RET op. The functions are read once from the globals (or a module's fields,
`mth.floor`) named in `globals`, which the trace's entry guard checks; a
called function reads its own module's globals. A called function must be pure: it may not
write a list, loop or return from the loop, so an exit inside it can resume
at its outermost CALL, which the interpreter then runs from the start.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from stage0 import isa
from stage0.errors import RuntimeErr
from stage0.values import Closure, GuestFn, Unset, add, arith, compare, eq, make_range, neg, seq_index, truthy

I64_MIN, I64_MAX = -(1 << 63), (1 << 63) - 1
RANGE_ITER = type(iter(range(0)))
LIST_ITER: type = type(iter([]))
# Host builtins a trace may call: pure functions of numbers (their IR is in jit.ilu).
PURE_BUILTINS = frozenset({"__num_sqrt", "__num_floor", "__num_ceil", "__num_round", "__num_exp", "__num_log",
                           "__num_log10", "__num_log2", "__num_sin", "__num_cos", "__num_tan", "__num_asin",
                           "__num_acos", "__num_atan", "__num_atan2", "__num_pow", "__num_and", "__num_or",
                           "__num_xor", "__num_shl", "__num_shr", "__num_idiv"})
MAX_INLINE = 4  # calls nested inside one another that a trace inlines
QUIET_STEPS = 200_000  # instructions an inner loop's other iterations may take while it is recorded
# The plain ops whose other way can leave an inner loop (its LOOP op names the one that did): the
# conditional jumps, those that both jump and fall through.
LEAVING = frozenset(n for n, o in isa.BY_NAME.items() if "jump" in o.roles and o.falls and not o.parts)


def semantics(sym: str) -> Callable[[Any, Any], Any]:
    """What the binary operator sym does to two values, as every interpreter does it."""
    if sym == "+":
        return add
    if sym == "==":
        return eq
    if sym == "!=":
        return lambda x, y: not eq(x, y)
    if sym in ("<", ">", "<=", ">="):
        return lambda x, y: compare(sym, x, y)
    return lambda x, y: arith(sym, x, y)


LOOP_ENDED = "the loop ended while recording"
_NONE = object()  # note(): the op reads no value of its own


class Abort(Exception):
    """The recording stopped; the loop stays interpreted. `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def range_fits(r: range) -> bool:
    """Whether every value of a range fits an i64 (a trace computes them natively)."""
    last = r.start + max(len(r) - 1, 0) * r.step
    return I64_MIN <= r.start <= I64_MAX and I64_MIN <= last <= I64_MAX


class RangeSim:
    """A range iterator as the trace sees it: start, step, length and the next index."""

    __slots__ = ("start", "step", "len", "i")

    def __init__(self, it: Any) -> None:
        _, (r,), self.i = it.__reduce__()
        self.start, self.step, self.len = r.start, r.step, len(r)
        if not range_fits(r):
            raise Abort("range beyond 64-bit integers")


class FnSim:
    """A function read from a global, as the recording holds it: its place in the recording's
    `globals` (which the trace's exits leave on the stack), the function and its prototype."""

    __slots__ = ("index", "fn", "proto")

    def __init__(self, index: int, fn: Any, proto: Any) -> None:
        self.index, self.fn, self.proto = index, fn, proto


class ModSim:
    """An object read from a global (a module, mostly) whose field the recording then reads: its
    place in the recording's `globals` and the object itself."""

    __slots__ = ("index", "obj")

    def __init__(self, index: int, obj: dict[str, Any]) -> None:
        self.index, self.obj = index, obj


def module_globals(v: Any) -> Any:
    """The globals of a function's module (a closure's, or a self-hosted VM function's): its code
    reads its globals there."""
    if v.__class__ is Closure:
        return v.module.globals
    d = v.data if v.__class__ is GuestFn else None
    m = d.get("module") if d.__class__ is dict else None
    return m.get("globals") if m.__class__ is dict else None


def closure_proto(v: Any) -> Any:
    """The prototype (code, nlocals, arity, pad) of a function a trace may inline: a closure's;
    None for any other value. (The JIT gives the recorder one that knows the self-hosted VM's
    functions instead, for its loops: Jit.protos_for.)"""
    return v.proto if v.__class__ is Closure else None


class ListIterSim:
    """The iterator of `x <- xs` over a list as the trace sees it: the list and the next index."""

    __slots__ = ("seq", "i")

    def __init__(self, it: Any) -> None:
        _, (self.seq,), self.i = it.__reduce__()


def _sim(v: Any) -> Any:
    """A copy the dry run may advance, for an iterator; any other value as it is. A spent list
    iterator has no index to copy: it stays as it is, and traces do not hold it."""
    if v.__class__ is RANGE_ITER:
        return RangeSim(v)
    if v.__class__ is LIST_ITER and len(v.__reduce__()) == 3:
        return ListIterSim(v)
    return v


def kind_of(v: Any) -> str | None:
    """The trace kind of a value, or None when traces cannot hold it."""
    c = v.__class__
    if c is int:
        return "int" if I64_MIN <= v <= I64_MAX else None
    if c is float:
        return "flt"
    if c is bool:
        return "bool"
    if v is None:
        return "nil"
    if c is RangeSim or c is RANGE_ITER:
        return "rng"
    if c is list:
        return "lst"
    if c is ListIterSim or (c is LIST_ITER and len(v.__reduce__()) == 3):
        return "lit"
    if c is FnSim:
        return "fn"
    if c is ModSim:
        return "mod"
    return None


def _leaving_op(body: list[list[Any]], pc: int, name: str) -> Optional[int]:
    """Where in an inner loop's recorded iteration the op at pc that left it is: one of its own,
    not of a loop inside it or of a called function; None when the iteration did not meet it."""
    i, calls = 0, 0
    while i < len(body):
        o = body[i]
        if o[1] == "LOOP":
            i += o[2] + 1
            continue
        calls += (o[1] == "CALL") - (o[1] == "RET")
        if not calls and o[0] == pc and o[1] == name and name in LEAVING:
            return i
        i += 1
    return None


def _element(v: Any) -> bool:
    """Whether a trace may read v from a list: a number it holds, or a list."""
    return v.__class__ is list or ((v.__class__ is int or v.__class__ is float) and kind_of(v) is not None)


def _parts(op: int, a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    """An instruction as plain opcodes: a superinstruction's parts take its operands in order."""
    spec = isa.BY_CODE[op]
    if not spec.parts:
        return [(spec.name, a, b)]
    operands, out = [a, b], []
    for name in spec.parts:
        n = len(isa.BY_NAME[name].operands)
        mine, operands = operands[:n] + [None] * (2 - n), operands[n:]
        out.append((name, mine[0], mine[1]))
    return out


class Recorder:
    """One dry run of a loop body; `run` gives the recording or raises Abort. `g` is the
    function's module globals; `protos` gives the prototype of a function value, or None for a
    value that is not one a trace may inline. What the recording reads from a global or an
    object's field is checked at the trace's entry: `globals` lists [scope, name] pairs, where
    scope k is self.scopes[k] (0: g; then other modules' globals and objects read from them).
    A side path starts from the scopes and globals of the trace's recording, keeping their
    places."""

    def __init__(self, code: list[tuple[int, Any, Any]], nlocals: int, header: int, end: int,
                 locs: list[Any], max_ops: int, stack: Optional[list[Any]] = None,
                 g: Optional[dict[str, Any]] = None, protos: Callable[[Any], Any] = closure_proto,
                 ctx: Optional[list[list[Any]]] = None, seen: Optional[tuple[list[Any], list[Any]]] = None) -> None:
        self.code, self.header, self.end, self.max_ops = code, header, end, max_ops
        self.g: dict[str, Any] = {} if g is None else g
        self.scopes: list[Any] = [self.g] if seen is None else list(seen[0])
        self.names: list[list[Any]] = [] if seen is None else [list(n) for n in seen[1]]
        self.protos = protos
        self.locs: list[Any] = [_sim(v) for v in locs]
        self.entry = [[s, k] for s, v in enumerate(self.locs) if (k := kind_of(v)) is not None]
        self.ctx = [[s, k] for s, k in self.entry if k in ("rng", "lit")] if ctx is None else [list(c) for c in ctx]
        self.nlocals = nlocals
        self.stack: list[Any] = [self.function(v) for v in stack or []]
        self.ops: list[list[Any]] = []
        self.quiet = False                 # running an inner loop's other iterations: no notes
        self.last = ""                     # the plain op run last (the one that jumped)
        self.visits: dict[int, int] = {}   # where in ops the recording first met each pc of the loop
        self.pending: dict[int, int] = {}  # inner loops a side path began inside of: their next iteration
        self.base = 0  # where the running function's slots start: 0, or an inlined callee's
        self.frames: list[tuple[list[tuple[int, Any, Any]], int, int, Any]] = []  # callers: code, ret, base, g
        # What the dry run wrote into lists, by the list's id and position: the program's lists
        # stay as they are, and the run reads its own writes (an inner loop may end by them).
        self.written: dict[int, dict[int, Any]] = {}

    def element(self, xs: list[Any], i: Any) -> Any:
        """xs[i] as the dry run sees it (an index out of range raises as the interpreters do)."""
        j = seq_index(xs, i)
        mine = self.written.get(id(xs))
        return mine[j] if mine is not None and j in mine else xs[j]

    def function(self, v: Any) -> Any:
        """A value on a side path's stack, which an exit left there: a function must be one the
        recording read from a global or a field."""
        p = self.protos(v)
        if p is None:
            if kind_of(v) is None:
                raise Abort("a side exit leaves a value traces do not hold")
            return v
        for i, (k, name) in enumerate(self.names):
            if self.scopes[k].get(name) is v:
                return FnSim(i, v, p)
        raise Abort("a side exit leaves a function the recording did not read")

    def checked(self, scope: dict[str, Any], name: str) -> int:
        """The place in `globals` of what scope[name] holds, which the trace's entry checks."""
        k = next((i for i, d in enumerate(self.scopes) if d is scope), None)
        if k is None:
            k = len(self.scopes)
            self.scopes.append(scope)
        if [k, name] not in self.names:
            self.names.append([k, name])
        return self.names.index([k, name])

    def run(self, pc: Optional[int] = None) -> dict[str, Any]:
        """Record from the header (or from pc, where a trace left) until control comes back to it."""
        pc = self.header if pc is None else pc
        while True:
            if not self.frames and pc not in self.visits:
                self.visits[pc] = len(self.ops)
            depth = len(self.frames)
            nxt = self.instruction(pc)
            if depth != len(self.frames):  # a call or a return: nxt is in the other function
                pc = nxt
                continue
            if nxt <= pc and self.frames:
                raise Abort("a loop in a called function")
            if self.frames:
                pc = nxt
                continue
            if nxt == self.header:
                return {"nlocals": self.nlocals, "header": self.header, "end": self.end, "entry": self.entry,
                        "ops": self.ops, "ctx": self.ctx, "globals": self.names, "scopes": self.scopes}
            if self.header < nxt < pc:
                nxt = self.inner(nxt, pc)
            if not self.header <= nxt <= self.end:
                raise Abort(LOOP_ENDED)
            pc = nxt

    def instruction(self, pc: int) -> int:
        """Run (and write down, unless quiet) the instruction at pc, as its plain ops; give the
        next pc. The running function's slots start at self.base."""
        op, a, b = self.code[pc]
        nxt = pc + 1
        for name, x, y in _parts(op, a, b):
            if len(self.ops) >= self.max_ops:
                raise Abort("trace too long")
            if self.base and isa.BY_NAME[name].roles[:1] == ("slot",):
                x += self.base
            self.last = name
            nxt = self.step(pc, name, x, y, nxt)
        return nxt

    def inner(self, h: int, e: int) -> int:
        """The jump at e goes back to h inside the loop: h heads an inner loop. The ops since the
        recording first met h are one iteration of it; its other iterations run quietly, and a
        LOOP op in front of that iteration says how many ops it holds (a) and which of them left
        the inner loop (b). Gives the pc where the inner loop left. A side path that began
        inside the inner loop meets h only now: its next iteration is the one written down."""
        start = self.pending.pop(h, None)
        if start is None and self.visits.get(h) is None:
            self.pending[h] = len(self.ops)
            return h
        start = self.visits[h] if start is None else start
        self.quiet = True
        try:
            at, name, nxt = self.run_quietly(h, e)
        finally:
            self.quiet = False
        k = _leaving_op(self.ops[start:], at, name)
        if k is None:
            raise Abort("an inner loop left by a way its recording did not take")
        self.ops.insert(start, [h, "LOOP", len(self.ops) - start, k, [], False, None, None])
        return nxt

    def run_quietly(self, h: int, e: int) -> tuple[int, str, int]:
        """Run the inner loop [h, e] from its header without writing anything down until it
        leaves: (pc and op that left it, and the pc it left for). A `brk` leaves by a JUMP
        that a branch led to: the branch is the op that left, since the JUMPs between do
        nothing a trace must do."""
        pc, steps = h, 0
        branch: Optional[tuple[int, str]] = None  # the last branch, when only JUMPs followed it
        while True:
            depth = len(self.frames)
            nxt = self.instruction(pc)
            steps += 1
            if steps > QUIET_STEPS:
                raise Abort("an inner loop runs too long to record")
            if self.last in LEAVING and not self.frames:
                branch = (pc, self.last)
            elif self.last != "JUMP" or self.frames:
                branch = None
            if depth == len(self.frames) and not self.frames and not h <= nxt <= e:
                return (*branch, nxt) if branch is not None else (pc, self.last, nxt)
            pc = nxt

    def note(self, pc: int, name: str, a: Any, b: Any, args: list[Any], taken: bool = False,
             value: Any = _NONE, lists: bool = False, fns: bool = False, element: Any = _NONE) -> None:
        """Write one op down (unless quiet: then only check it), with its stack operands' kinds
        and the kind of the value it reads (and of the list element it reads). Only an op that
        says so may take a list (indexing, dropping, copying) or a function (calling, dropping)."""
        kinds = [kind_of(v) for v in args]
        kind = None if value is _NONE else kind_of(value)
        if None in kinds or (value is not _NONE and kind is None):
            raise Abort(f"{name} on a value traces do not hold")
        if "lst" in kinds and not lists:
            raise Abort(f"{name} on a list")
        if ("fn" in kinds or "mod" in kinds) and not fns:
            raise Abort(f"{name} on a function or a module")
        if self.quiet:
            return
        self.ops.append([pc, name, a, b, kinds, taken, isa.OPERATOR.get(name), kind])
        if element is not _NONE:
            self.ops[-1].append(kind_of(element))  # the element's kind, which the trace guards

    def step(self, pc: int, name: str, a: Any, b: Any, nxt: int) -> int:
        """Run one plain op on the copies; give the next pc."""
        handler = getattr(self, "op_" + name, None)
        if handler is None:
            raise Abort(f"{name} is not traced")
        try:
            return handler(pc, a, b, nxt)  # type: ignore[no-any-return]
        except RuntimeErr as e:
            raise Abort(f"{name} raises: {e.message}") from None
        except IndexError:  # only code the host never verified (a guest's: stage0/jit/guest.py)
            raise Abort(f"{name} on an empty stack") from None

    # ---- the ops a trace covers, named after their opcodes ----------------------

    def op_PUSH_CONST(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        self.note(pc, "PUSH_CONST", a, b, [], value=a)
        self.stack.append(a)
        return nxt

    def op_PUSH_NIL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        return self.op_PUSH_CONST(pc, None, b, nxt)

    def op_PUSH_TRU(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        return self.op_PUSH_CONST(pc, True, b, nxt)

    def op_PUSH_FLS(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        return self.op_PUSH_CONST(pc, False, b, nxt)

    def op_POP(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        self.note(pc, "POP", a, b, [self.stack.pop()], lists=True)
        return nxt

    def op_DUP(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        self.note(pc, "DUP", a, b, [self.stack[-1]], lists=True)
        self.stack.append(self.stack[-1])
        return nxt

    def op_DUP2(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """The two values on top, again (a list and its index, for `xs[i] -= 1`)."""
        self.note(pc, "DUP2", a, b, self.stack[-2:], lists=True)
        self.stack += self.stack[-2:]
        return nxt

    def op_LOAD_LOCAL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        v = self.locs[a]
        if v.__class__ is Unset:
            raise Abort("a local used before assignment")
        if v.__class__ is RangeSim or v.__class__ is ListIterSim:
            raise Abort("an iterator read as a value")
        self.note(pc, "LOAD_LOCAL", a, b, [], value=v)
        self.stack.append(v)
        return nxt

    def op_STORE_LOCAL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """A local, which may hold a list (read from a list: the glue writes it back)."""
        v = self.stack.pop()
        self.note(pc, "STORE_LOCAL", a, b, [v], lists=True)
        self.locs[a] = v
        return nxt

    def binary(self, pc: int, name: str, a: Any, b: Any, f: Callable[[Any, Any], Any]) -> None:
        """An op of two operands: note it with their kinds, push f's result."""
        y, x = self.stack[-1], self.stack[-2]
        self.note(pc, name, a, b, [x, y])
        r = f(x, y)
        if kind_of(r) is None:
            raise Abort(f"{name} gives a number beyond 64-bit integers")
        del self.stack[-2:]
        self.stack.append(r)

    def __getattr__(self, attr: str) -> Any:
        """op_ADD, op_LT, ...: every binary operation (isa.OPERATOR) shares one body."""
        sym = isa.OPERATOR.get(attr[3:]) if attr.startswith("op_") else None
        if sym is None:
            raise AttributeError(attr)
        f = semantics(sym)

        def op(pc: int, a: Any, b: Any, nxt: int) -> int:
            if sym == "+" and not all(v.__class__ is int or v.__class__ is float for v in self.stack[-2:]):
                raise Abort("+ on a value that is not a number")
            self.binary(pc, attr[3:], a, b, f)
            return nxt
        return op

    def op_NEG(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        x = self.stack[-1]
        self.note(pc, "NEG", a, b, [x])
        r = neg(x)
        if kind_of(r) is None:
            raise Abort("NEG gives a number beyond 64-bit integers")
        self.stack[-1] = r
        return nxt

    def op_NOT(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        x = self.stack[-1]
        self.note(pc, "NOT", a, b, [x])
        self.stack[-1] = not truthy(x)
        return nxt

    def op_JUMP(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        self.note(pc, "JUMP", a, b, [])
        return int(a)

    def branch(self, pc: int, name: str, a: Any, b: Any, nxt: int, when: bool) -> int:
        """JUMP_IF (when=True) and JUMP_UNLESS (when=False): pop, test, note the way taken."""
        v = self.stack[-1]
        taken = truthy(v) == when
        self.note(pc, name, a, b, [v], taken)
        self.stack.pop()
        return int(a) if taken else nxt

    def op_JUMP_IF(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        return self.branch(pc, "JUMP_IF", a, b, nxt, True)

    def op_JUMP_UNLESS(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        return self.branch(pc, "JUMP_UNLESS", a, b, nxt, False)

    def op_JUMP_IF_NIL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        v = self.stack[-1]
        self.note(pc, "JUMP_IF_NIL", a, b, [v], v is None)
        return int(a) if v is None else nxt

    def op_FOR_NEXT(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """The next value of an iterator. A spent one ends its loop: quietly, an inner loop's
        other iterations jump out of it; a recorded iteration meets the end of its loop (the
        trace's, or an inner loop that runs no iteration this time) and is tried again later."""
        it = self.locs[a]
        if it.__class__ is not RangeSim and it.__class__ is not ListIterSim:
            raise Abort("a loop over something other than a range or a list")
        if it.i >= (it.len if isinstance(it, RangeSim) else len(it.seq)):
            if self.quiet:
                return int(b)
            raise Abort(LOOP_ENDED)
        v = it.start + it.i * it.step if isinstance(it, RangeSim) else self.element(it.seq, it.i)
        if not _element(v):
            raise Abort("a list element that is not a number or a list")
        self.note(pc, "FOR_NEXT", a, b, [], value=it, element=v)
        self.stack.append(v)
        it.i += 1
        return nxt

    def op_ITER_RANGE(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """An inner loop's range iterator, made in the trace: its start, step and length are context
        words an exit fills, so the interpreter gets it back."""
        lo, hi = self.stack[-2], self.stack[-1]
        if lo.__class__ is not int or hi.__class__ is not int:
            raise Abort("a range whose bounds are not ints")
        self.note(pc, "ITER_RANGE", a, b, [lo, hi])
        self.locs[a] = RangeSim(iter(make_range(lo, hi)))
        self.context(a, "rng")
        del self.stack[-2:]
        return nxt

    def op_ITER(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """An inner loop's iterator over a list, made in the trace (its list is a context word)."""
        xs = self.stack[-1]
        if xs.__class__ is not list:
            raise Abort("a loop over something other than a range or a list")
        self.note(pc, "ITER", a, b, [xs], lists=True)
        self.locs[a] = ListIterSim(iter(xs))
        self.context(a, "lit")
        self.stack.pop()
        return nxt

    def context(self, slot: int, kind: str) -> None:
        """Give the iterator in slot its context words (once; the kind does not change)."""
        if not any(c[0] == slot for c in self.ctx):
            self.ctx.append([slot, kind])
        elif [slot, kind] not in self.ctx:
            raise Abort("a local that holds iterators of two kinds")

    def op_GET_IDX(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        i, xs = self.stack[-1], self.stack[-2]
        if xs.__class__ is not list:
            raise Abort("indexing something other than a list")
        v = self.element(xs, i)
        if not _element(v):
            raise Abort("a list element that is not a number or a list")
        self.note(pc, "GET_IDX", a, b, [xs, i], lists=True, element=v)
        del self.stack[-2:]
        self.stack.append(v)
        return nxt

    def op_SET_IDX(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """xs[i] = v of a number into a list. The dry run must not change the program's list: it
        keeps the write to itself (Recorder.element), and the trace's guards decide at run time."""
        v, i, xs = self.stack[-1], self.stack[-2], self.stack[-3]
        if xs.__class__ is not list:
            raise Abort("a write into something other than a list")
        if self.frames:
            raise Abort("a list write in a called function")
        if v.__class__ is not int and v.__class__ is not float:
            raise Abort("a list write of a value that is not a number")
        self.note(pc, "SET_IDX", a, b, [xs, i, v], lists=True)
        old = self.element(xs, i)  # an index the write would refuse aborts here, as a read would
        if old.__class__ is not int and old.__class__ is not float:
            raise Abort("a list write over an element that is not a number")
        self.written.setdefault(id(xs), {})[seq_index(xs, i)] = v
        del self.stack[-2:]
        return nxt

    def op_LOAD_GLOBAL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """A global that holds an ilusm function, to be called, or an object (a module) whose
        field is one: the trace's entry checks it."""
        v: Any = self.g.get(a)
        p = self.protos(v)
        if p is None and v.__class__ is not dict:
            raise Abort(f"a global that is not an ilusm function ({a})")
        i = self.checked(self.g, a)
        f = ModSim(i, v) if p is None else FnSim(i, v, p)
        self.note(pc, "LOAD_GLOBAL", a, i, [], value=f)
        self.stack.append(f)
        return nxt

    def op_GET_FIELD(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """A module's function (mth.floor), to be called: the entry checks the field too."""
        m = self.stack[-1]
        if m.__class__ is not ModSim:
            raise Abort("a field of a value that is not a module")
        v = m.obj.get(a)
        p = self.protos(v)
        if p is None:
            raise Abort(f"a field that is not an ilusm function ({a})")
        f = FnSim(self.checked(m.obj, a), v, p)
        self.note(pc, "GET_FIELD", a, f.index, [m], value=f, fns=True)
        self.stack[-1] = f
        return nxt

    def op_CALL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """Inline a call: the arguments go to the callee's slots, after the running function's."""
        f = self.stack[-a - 1]
        if f.__class__ is not FnSim:
            raise Abort("a call of a value that is not a global function")
        p = f.proto
        g = module_globals(f.fn)
        if g.__class__ is not dict:
            raise Abort("a call of a function without a module")
        if p.arity != a:
            raise Abort("a call with the wrong number of arguments")
        if len(self.frames) >= MAX_INLINE:
            raise Abort("calls nested too deeply")
        base = len(self.locs)
        self.note(pc, "CALL", base, p.nlocals, self.stack[-a - 1:], lists=True, fns=True)
        args = self.stack[len(self.stack) - a:]
        self.locs += args + p.pad
        for i in reversed(range(a)):
            self.op_STORE_LOCAL(pc, base + i, None, nxt)
        self.note(pc, "POP", None, None, [self.stack.pop()], fns=True)
        self.frames.append((self.code, nxt, self.base, self.g))
        self.code, self.base, self.g = p.code, base, g  # its globals are its own module's
        return 0

    def op_CALL_TAIL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """A tail call inside an inlined function: a call, whose RET (the next op) returns at once."""
        if not self.frames:
            raise Abort("a tail call from the loop")
        return self.op_CALL(pc, a, b, nxt)

    def op_RET(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        """An inlined function returns: its slots are gone, its caller goes on."""
        if not self.frames:
            raise Abort("a return from inside the loop")
        self.note(pc, "RET", self.base, len(self.locs) - self.base, [self.stack[-1]], lists=True)
        del self.locs[self.base:]
        self.code, ret, self.base, self.g = self.frames.pop()
        return ret

    def op_SYSCALL(self, pc: int, a: Any, b: Any, nxt: int) -> int:
        if a not in PURE_BUILTINS:
            raise Abort(f"a call of {a}")
        from stage0.host.registry import REGISTRY

        args = self.stack[len(self.stack) - b:]
        self.note(pc, "SYSCALL", a, b, args)
        r = REGISTRY[a].fn(None, *args)
        del self.stack[len(self.stack) - b:]
        self.stack.append(r)
        return nxt


def _successors(code: list[tuple[int, Any, Any]], pc: int) -> list[int]:
    """Where control may go after the instruction at pc (a jump's target is its last operand)."""
    op, a, b = code[pc]
    spec = isa.BY_CODE[op]
    out = [pc + 1] if spec.falls else []
    if spec.is_jump:
        out.append(int((a, b)[len(spec.roles) - 1]))
    return out


def _going_round(code: list[tuple[int, Any, Any]], header: int, end: int) -> list[int]:
    """The instructions of the loop [header, end] from which control can come back round to its
    back edge at end without leaving the loop: what one iteration may run. The others only
    lead out of it (a `ret`, with the value it builds), where a recording stops anyway."""
    preds: dict[int, list[int]] = {}
    for pc in range(header, end + 1):
        for s in _successors(code, pc):
            if header <= s <= end:
                preds.setdefault(s, []).append(pc)
    seen, todo = {end}, [end]
    while todo:
        for p in preds.get(todo.pop(), ()):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return sorted(seen)


def traceable(code: list[tuple[int, Any, Any]], header: int, end: int) -> bool:
    """Whether every instruction one iteration of the loop [header, end] may run is one the
    recorder handles (a pure builtin for SYSCALL, a global that is not a host builtin). A loop
    that fails this is never counted: no path through it could be recorded without meeting such
    an instruction, or it is one the recorder would abort at."""
    from stage0.host.registry import REGISTRY

    for pc in _going_round(code, header, end):
        for name, x, _ in _parts(*code[pc]):
            if (name == "SYSCALL" and x not in PURE_BUILTINS) or (name == "LOAD_GLOBAL" and x in REGISTRY):
                return False
            if name not in isa.OPERATOR and not hasattr(Recorder, "op_" + name):
                return False
    return True


def record(code: list[tuple[int, Any, Any]], nlocals: int, header: int, end: int, locs: list[Any],
           max_ops: int, g: Optional[dict[str, Any]] = None,
           protos: Callable[[Any], Any] = closure_proto) -> dict[str, Any]:
    """The recording of the loop at `header` (closed by the jump at `end`) from locals `locs`; g
    holds the globals of the function's module (Recorder says what protos does). Its "scopes"
    are the objects its globals are read from: not plain data, the JIT takes them out."""
    return Recorder(code, nlocals, header, end, locs, max_ops, g=g, protos=protos).run()


def record_side(code: list[tuple[int, Any, Any]], nlocals: int, header: int, end: int, locs: list[Any],
                max_ops: int, pc: int, stack: list[Any], g: Optional[dict[str, Any]] = None,
                protos: Callable[[Any], Any] = closure_proto, ctx: Optional[list[list[Any]]] = None,
                seen: Optional[tuple[list[Any], list[Any]]] = None) -> dict[str, Any]:
    """A side path: from where a trace left (pc, with that operand stack) back to the header;
    jit.ilu compiles its ops into the trace at that exit. Its ctx, globals and scopes are the
    trace's (`ctx`, and `seen`: scopes and globals) with any the path adds."""
    return Recorder(code, nlocals, header, end, locs, max_ops, stack, g, protos, ctx, seen).run(pc)
