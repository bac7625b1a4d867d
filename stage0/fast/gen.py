"""Code generation for the fast host tier: ILBC blocks into Python source.

Reads the analysis of flow.py; FastVM (vm.py) compiles and runs what this writes.
"""
from __future__ import annotations

from typing import Any, Optional, Protocol

from stage0 import isa
from stage0.fast.flow import MAX_INDENT, MAX_NEST, NAMES, SKIP, TRAMP, Flow, Unstructured
from stage0.fast.hooks import JitHooks
from stage0.interp.loader import Proto
from stage0.values import eq, truthy

# ---- code generation -----------------------------------------------------------------

NOCONST = object()

# The opcodes whose translations below read the module's globals `G`, and those that
# set the host-call depth `D` (what a function's frame setup must provide for them).
_USES_G = ("LOAD_GLOBAL", "STORE_GLOBAL", "IMPORT_ALL")
_SETS_D = ("SYSCALL", "USE")


def _steps(op: isa.Op) -> tuple[tuple[str, int, int], ...]:
    """What the translator does for op (isa.Op.steps): each step's name and where its a and b
    operands sit in the loaded instruction (op, a, b); a step ignores what it does not
    take, so a missing operand points anywhere, here at b."""
    out = []
    for part, at in op.steps:
        where = [1 + i for i in at] + [2, 2]
        out.append((part.name, where[0], where[1]))
    return tuple(out)


# By opcode byte, the steps of each instruction.
_STEPS = {op.code: _steps(op) for op in isa.TABLE}


class Entry:
    """One symbolic stack slot: Python text, whether it is a pending expression, its type.

    `depth` is how many pending operations the text nests (0 for a name or a literal).

    `proves` is the local slot a comparison shows to hold a number once it has run (it
    raises otherwise), or None.
    """

    __slots__ = ("text", "expr", "typ", "locs", "at", "const", "depth", "proves")

    def __init__(self, text: str, expr: bool = False, typ: Optional[str] = None,
                 locs: frozenset[int] = frozenset(), at: int = -1, const: Any = NOCONST,
                 depth: int = 0) -> None:
        self.text, self.expr, self.typ, self.locs, self.at, self.const = text, expr, typ, locs, at, const
        self.depth = depth
        self.proves: Optional[int] = None

    @property
    def obj(self) -> str:
        """The text, parenthesized unless it is a name (so `.attr` and `is` are safe after it)."""
        return self.text if self.text.isidentifier() else f"({self.text})"


Line = list[Any]  # [indent, text, instruction index or SKIP]

# Pending operations nested in one Python expression before it is evaluated
# into its slot variable: CPython's parser stops at 200 nested brackets, and
# one operation may add a few.
MAX_EXPR_DEPTH = 32


class Ctx:
    """Where control goes when the current construct falls off its end; the innermost loop."""

    __slots__ = ("follow", "loop", "exit")

    def __init__(self, follow: Optional[int], loop: Optional[int], exit: Optional[int]) -> None:
        self.follow, self.loop, self.exit = follow, loop, exit


# Pure builtins whose commonest case generated code runs inline, by argument count: (name, the
# case, what it does). Every other case calls the builtin, so results and messages stay its own.
INLINE_BUILTINS: dict[int, tuple[tuple[str, str, str], ...]] = {
    1: (("len", "{a0}.__class__ is list or {a0}.__class__ is str", "{s} = len({a0})"),
        ("pop", "{a0}.__class__ is list and {a0}", "{s} = {a0}.pop()")),
    2: (("push", "{a0}.__class__ is list", "{a0}.append({a1}); {s} = {a0}"),),
}


class Env(Protocol):
    """What a translation asks of the VM it translates for (FastVM provides it)."""

    builtins: dict[str, Any]   # the host builtins, by name
    inline_builtins: bool      # a missing global may be looked up in builtins inline
    inline_syscall: bool       # SYSCALL may call the builtin's fn directly
    jit: Any                   # a stage0.jit.runtime.Jit: loops count their back edges for it; None: off

    def serial_of(self, proto: Proto) -> int:
        """The number that names proto's namespace entries."""

    def arity_table_name(self, argc: int, names: dict[str, Any]) -> str:
        """The namespace name of the call table for argc arguments (added to names)."""

    def host_call_name(self, argc: int) -> str:
        """The namespace name of the helper calling a builtin with argc arguments."""


class Translator:
    """Generates the Python source of one prototype (entry and, with tail calls, body versions)."""

    def __init__(self, proto: Proto, flow: Flow, env: Env) -> None:
        self.proto, self.flow, self.env = proto, flow, env
        self.serial = env.serial_of(proto)
        self.code = proto.code
        self.names: dict[str, Any] = {}   # namespace entries this function needs
        self.tail = False                 # generating the body (marker-returning) version
        self.has_tail = any(NAMES[op] == "CALL_TAIL" for op, _, _ in self.code)
        # a tail call that may call this very function again loops in place (when it is not inside an
        # ilusm loop, whose Python loop would catch the `continue`)
        self.self_tail = any(NAMES[op] == "CALL_TAIL" and a == proto.arity for op, a, _ in self.code)
        self.uses_g = any(NAMES[op] in _USES_G for op, _, _ in self.code)
        self.uses_u = any(NAMES[op] == "LOAD_UPVAL" or (NAMES[op] == "MAKE_CLOSURE" and any(k for k, _ in a.upvals))
                          for op, a, _ in self.code)
        self.budget = 0
        self.mode = "struct"
        self.hooks = JitHooks(proto, flow, env.jit, self.serial)
        # by block: the local slots known to hold numbers when control leaves it (BlockGen.nums)
        self.nums_out: dict[int, frozenset[int]] = {}

    # ---- whole function ----

    def function(self, fname: str, mode: str, tail: bool) -> list[Line]:
        """The `def` of one version in one mode."""
        self.tail, self.mode = tail, mode
        self.budget = 4 * len(self.code) + 400
        p = self.proto
        params = "".join(f", l{i}" for i in range(p.arity))
        out: list[Line] = [[0, f"def {fname}(clo, d{params}):", SKIP]]
        if any(NAMES[op] in _SETS_D for op, _, _ in self.code):
            out.append([1, "global D", SKIP])
        counters = self.hooks.counters()
        if counters:  # back edges are counted across calls: a short loop in a hot function gets hot
            out.append([1, "global " + ", ".join(counters), SKIP])
            for c in counters:
                self.names.setdefault(c, 0)
        out.append([1, "if d > MAX: raise RuntimeErr('stack overflow')", SKIP])
        if self.self_tail:
            out.append([1, "t_ = 0", SKIP])  # self tail calls so far (a trace shows them)
        ind = 1
        if mode == "struct" and self.self_tail:
            out.append([1, "while True:", SKIP])  # a self tail call is `continue`
            ind = 2
        out.extend([ind, text, SKIP] for text in self.frame_setup())
        if mode == "struct":
            self.node(0, Ctx(None, None, None), out, ind)
        else:
            self.dispatch(out, mode == "flat")
        if max(ln[0] for ln in out) > MAX_INDENT:
            raise Unstructured("nesting too deep")
        return out

    def frame_setup(self) -> list[str]:
        """What a fresh frame of this function sets up: globals, captured cells, unset locals."""
        lines = []
        if self.uses_g:
            lines.append("G = clo.module.globals")
        if self.uses_u:
            lines.append("U = clo.upvals")
        init = range(self.proto.arity, self.proto.nlocals) if self.hooks.loops else self.flow.init
        if init:
            lines.append(" = ".join(f"l{s}" for s in init) + " = UNSET")
        lines.extend(self.hooks.setup())
        return lines

    # ---- structured emission ----

    def node(self, b: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        """Emit block b (entering its loop if it heads one) and everything it dominates."""
        if b in self.flow.headers:
            self.loop(b, ctx, out, ind)
        else:
            self.plain(b, ctx, out, ind)

    def loop(self, h: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        """`while True:` (or `for`) around loop h, then its exit."""
        fl = self.flow
        ex = fl.exits[h]
        if ex == -1:
            raise Unstructured("loop with several exits")
        inner = Ctx(h, h, ex)
        bl = fl.blocks[h]
        op, a, _ = self.code[bl.start]
        step = isa.BY_CODE[op]  # a loop step: reads an iterator slot, jumps when it is done
        if (bl.end - bl.start == 1 and step.is_jump and step.reads_slot and ex == bl.succs[1]
                and not self._writes_in_loop(h, a)):
            d = bl.depth
            target = ", ".join(f"s{d + k}" for k in range(step.pushes))
            out.append([ind, f"for {target} in l{a}:", bl.start])
            self.branch(h, bl.succs[0], inner, out, ind + 1, [])
        else:
            out.append([ind, "while True:", SKIP])
            self.plain(h, inner, out, ind + 1)
        out.extend(self.hooks.after_loop(h, ind))
        if ex is not None:
            if ex == ctx.follow or ex == ctx.loop or ex == ctx.exit:
                self.jump_to(h, ex, ctx, out, ind)
            elif fl.dominates(h, ex) or fl.dup[ex]:
                self.node(ex, ctx, out, ind)
            else:
                raise Unstructured("loop exit is shared")

    def _writes_in_loop(self, h: int, slot: int) -> bool:
        for x in self.flow.body[h]:
            bl = self.flow.blocks[x]
            for i in range(bl.start, bl.end):
                if slot in Flow.writes(self.code[i]):
                    return True
        return False

    def plain(self, b: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        """Block b's code and terminator, then its join points in order."""
        fl = self.flow
        if ind > MAX_NEST:
            raise Unstructured("nesting too deep")
        merges = []
        for m in fl.kids[b]:
            if fl.merge[m] and not fl.dup[m] and m != ctx.exit:
                if fl.home[m] != ctx.loop and not fl.closed[m]:
                    raise Unstructured("join outside the loop")
                merges.append(m)
        merges.sort(key=lambda m: fl.order[m])
        follows = merges + [ctx.follow]
        self.block(b, Ctx(follows[0], ctx.loop, ctx.exit), out, ind)
        for j, m in enumerate(merges):
            self.node(m, Ctx(follows[j + 1], ctx.loop, ctx.exit), out, ind)

    def branch(self, src: int, t: int, ctx: Ctx, out: list[Line], ind: int, pre: list[Line]) -> None:
        """Control goes from block src to block t."""
        out.extend(pre)
        if self.mode != "struct":
            self.dispatch_branch(src, t, out, ind)
            return
        self.jump_to(src, t, ctx, out, ind)

    def jump_to(self, src: int, t: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        fl = self.flow
        if t == ctx.loop and t in self.hooks.loops and self.mode == "struct":
            out.extend(self.hooks.back_edge(t, ind))
        if t == ctx.follow:
            return
        if ctx.loop is not None and t == ctx.loop:
            out.append([ind, "continue", SKIP])
        elif ctx.exit is not None and t == ctx.exit:
            out.append([ind, "break", SKIP])
        elif fl.dup[t]:
            self.node(t, ctx, out, ind)
        elif not fl.merge[t] and fl.idom[t] == src:
            self.node(t, ctx, out, ind)
        else:
            raise Unstructured(f"jump {src} -> {t}")

    # ---- dispatch emission ----

    def dispatch(self, out: list[Line], flat: bool) -> None:
        fl = self.flow
        if flat:
            self.entries = set(range(len(fl.blocks)))
        else:
            self.entries = {0} | {b for b in range(len(fl.blocks)) if len(fl.preds[b]) != 1 or b in fl.headers}
        self.entries &= set(fl.rpo)
        cases = sorted(self.entries)
        out.append([1, "b_ = 0", SKIP])
        out.append([1, "while True:", SKIP])
        self._tree(cases, out, 2)

    def _tree(self, cases: list[int], out: list[Line], ind: int) -> None:
        if len(cases) <= 4:
            for k, c in enumerate(cases):
                if k == len(cases) - 1 and k:
                    out.append([ind, "else:", SKIP])
                else:
                    out.append([ind, f"{'if' if k == 0 else 'elif'} b_ == {c}:", SKIP])
                body: list[Line] = []
                self.block(c, Ctx(None, None, None), body, ind + 1)
                out.extend(body or [[ind + 1, "pass", SKIP]])
            return
        mid = len(cases) // 2
        out.append([ind, f"if b_ < {cases[mid]}:", SKIP])
        self._tree(cases[:mid], out, ind + 1)
        out.append([ind, "else:", SKIP])
        self._tree(cases[mid:], out, ind + 1)

    def dispatch_branch(self, src: int, t: int, out: list[Line], ind: int) -> None:
        if t in self.entries:
            out.append([ind, f"b_ = {t}", SKIP])
            out.append([ind, "continue", SKIP])
        else:
            if ind > MAX_NEST:
                raise Unstructured("nesting too deep")
            self.block(t, Ctx(None, None, None), out, ind)

    # ---- one block ----

    def block(self, b: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        """The instructions of block b, then its terminator as structured control flow."""
        bl = self.flow.blocks[b]
        self.budget -= bl.end - bl.start
        if self.budget < 0:
            raise Unstructured("too much duplication")
        st = BlockGen(self, b, out, ind, ctx.loop is not None)
        term = st.run()
        self.nums_out[b] = frozenset(st.nums)
        kind = term[0]
        if kind == "ret":
            return
        if kind == "goto":
            self.branch(b, term[1], ctx, out, ind, [])
            return
        _, cond, tag, t_true, t_false, pre_true, pre_false = term
        yes: list[Line] = []
        self.branch(b, t_true, ctx, yes, ind + 1, pre_true)
        no: list[Line] = []
        self.branch(b, t_false, ctx, no, ind + 1, pre_false)
        if not yes and not no:
            out.append([ind, f"if {cond}:", tag])
            out.append([ind + 1, "pass", SKIP])
            return
        if not yes:
            out.append([ind, f"if not ({cond}):", tag])
            out.extend(no)
            return
        out.append([ind, f"if {cond}:", tag])
        out.extend(yes)
        if no:
            first = no[0]
            rest = no[1:]
            if (first[0] == ind + 1 and first[1].startswith("if ")
                    and all(ln[0] > ind + 1 or ln[1].startswith("elif ") or ln[1] == "else:" for ln in rest)):
                out.append([ind, "el" + first[1], first[2]])
                for ln in rest:
                    ln[0] -= 1
                out.extend(rest)
            else:
                out.append([ind, "else:", SKIP])
                out.extend(no)


def lit(v: Any, names: dict[str, Any], key: str) -> tuple[str, Optional[str]]:
    """Python text and type of a constant; odd values go through the namespace."""
    t = type(v)
    if v is None:
        return "None", "nil"
    if t is bool:
        return repr(v), "bool"
    if t is int and abs(v) < 1 << 62:
        return (repr(v) if v >= 0 else f"({v!r})"), "int"
    if t is int:
        names[key] = v
        return key, None
    if t is float and v == v and v not in (float("inf"), float("-inf")):
        r = repr(v)
        return (r if not r.startswith("-") else f"({r})"), "float"
    if t is str and len(v) < 2000:
        return repr(v), "str"
    names[key] = v
    typ = {int: "int", float: "float", str: "str"}.get(t)
    return key, typ


class BlockGen:
    """Translates the instructions of one block over a symbolic stack."""

    def __init__(self, tr: Translator, b: int, out: list[Line], ind: int, in_loop: bool) -> None:
        self.tr, self.out, self.ind, self.in_loop = tr, out, ind, in_loop
        self.bl = tr.flow.blocks[b]
        self.stack: list[Entry] = [Entry(f"s{k}") for k in range(self.bl.depth)]
        self.assigned = set(tr.flow.ins[b])
        # Local slots known to hold numbers (int or float): a comparison that has run proves its
        # local operand one, until the slot is written. Facts cross only into a block whose one
        # predecessor is the function's own code (never block 0, which the call enters).
        preds = tr.flow.preds[b]
        self.nums: set[int] = set(tr.nums_out.get(preds[0], ())) if b and len(preds) == 1 else set()
        self.i = self.bl.start
        self.popped = 0  # the deepest operand taken by `once` since the last push

    # -- helpers --

    def emit(self, text: str, tag: Optional[int] = None, ind: int = 0) -> None:
        self.out.append([self.ind + ind, text, self.i if tag is None else tag])

    def flush(self, upto: Optional[int] = None) -> None:
        """Evaluate every pending expression below position upto, in stack order."""
        n = len(self.stack) if upto is None else upto
        for k in range(n):
            e = self.stack[k]
            if e.expr:
                self.emit(f"s{k} = {e.text}", e.at)
                self.stack[k] = Entry(f"s{k}", typ=e.typ)

    def settle(self) -> None:
        """Every slot in its own variable `sk` (block boundaries)."""
        self.flush()
        for k, e in enumerate(self.stack):
            if e.text != f"s{k}":
                self.emit(f"s{k} = {e.text}", SKIP)
                self.stack[k] = Entry(f"s{k}", typ=e.typ)

    def atoms(self, n: int) -> list[Entry]:
        """Pop n operands that may be used several times (pending expressions are evaluated)."""
        base = len(self.stack) - n
        self.flush()
        ops = self.stack[base:]
        del self.stack[base:]
        return ops

    def once(self, n: int) -> list[Entry]:
        """Pop n operands each used exactly once; expressions from other lines are evaluated first."""
        base = len(self.stack) - n
        self.flush(base)
        line = self.tr.proto.lines
        cur = line[self.i] if line else 0
        for k in range(base, len(self.stack)):
            e = self.stack[k]
            if e.expr and line and line[e.at] != cur:
                self.flush(len(self.stack))
                break
        ops = self.stack[base:]
        del self.stack[base:]
        self.popped = max([self.popped] + [e.depth for e in ops])
        return ops

    def push(self, text: str, expr: bool = True, typ: Optional[str] = None, locs: frozenset[int] = frozenset(),
             const: Any = NOCONST) -> None:
        depth = self.popped + 1 if expr else 0
        self.popped = 0
        self.stack.append(Entry(text, expr, typ, locs, self.i, const, depth))
        if depth > MAX_EXPR_DEPTH:  # CPython refuses (or overflows on) very deep expressions
            self.flush()

    def top_var(self) -> str:
        return f"s{len(self.stack)}"

    def need(self, name: str, value: Any) -> str:
        self.tr.names[name] = value
        return name

    # -- the block --

    def run(self) -> tuple[Any, ...]:
        code = self.tr.code
        end = self.bl.end
        while self.i < end:
            ins = code[self.i]
            steps = _STEPS[ins[0]]
            for name, pa, pb in steps[:-1]:  # a superinstruction's parts but the last
                getattr(self, "op_" + name)(ins[pa], ins[pb])
            name, pa, pb = steps[-1]
            a, b = ins[pa], ins[pb]
            if self.i == end - 1:
                term = self.terminator(name, a, b)
                if term is not None:
                    return term
            getattr(self, "op_" + name)(a, b)
            self.nums.difference_update(Flow.writes(ins))
            self.i += 1
        # fell into the next block
        self.settle()
        return ("goto", self.bl.succs[0])

    def terminator(self, name: str, a: Any, b: Any) -> Optional[tuple[Any, ...]]:
        """How the block ends when its last instruction ends a block (None: it does not)."""
        if not isa.BY_NAME[name].ends_block:
            return None
        term: tuple[Any, ...] = getattr(self, "term_" + name)(a, b)
        return term

    def term_RET(self, a: Any, b: Any) -> tuple[Any, ...]:
        (v,) = self.once(1)
        self.emit(f"return {v.text}")
        return ("ret",)

    def term_JUMP(self, a: Any, b: Any) -> tuple[Any, ...]:
        self.settle()
        return ("goto", self.bl.succs[0])

    def term_JUMP_IF(self, a: Any, b: Any) -> tuple[Any, ...]:
        fall, taken = self.bl.succs
        return ("cond", self.condition(), self.i, taken, fall, [], [])

    def term_JUMP_UNLESS(self, a: Any, b: Any) -> tuple[Any, ...]:
        fall, taken = self.bl.succs
        return ("cond", self.condition(), self.i, fall, taken, [], [])

    def condition(self) -> str:
        """The Python test of the value on top of the stack, which a conditional jump pops."""
        c = self.stack[-1]
        if c.proves is not None:
            self.nums.add(c.proves)
        if c.typ == "bool" and c.expr:
            del self.stack[-1]
            self.settle()
            self.stack.append(c)
            (c,) = self.once(1)
            cond = c.text
        else:
            (c,) = self.atoms(1)
            cond = self.truth(c)
        self.settle()
        return cond

    def term_JUMP_IF_NIL(self, a: Any, b: Any) -> tuple[Any, ...]:
        fall, taken = self.bl.succs
        self.settle()
        return ("cond", f"s{len(self.stack) - 1} is None", self.i, taken, fall, [], [])

    def term_FOR_NEXT(self, a: Any, b: Any) -> tuple[Any, ...]:
        fall, taken = self.bl.succs
        self.settle()
        top = self.top_var()
        return ("cond", f"({top} := next(l{a}, MISS)) is MISS", self.i, taken, fall, [], [])

    def term_FOR_NEXT2(self, a: Any, b: Any) -> tuple[Any, ...]:
        fall, taken = self.bl.succs
        self.settle()
        d = len(self.stack)
        pre = [[self.ind + 1, f"s{d}, s{d + 1} = s{d}", self.i]]
        return ("cond", f"(s{d} := next(l{a}, None)) is None", self.i, taken, fall, [], pre)

    def truth(self, c: Entry) -> str:
        x = c.text
        if c.const is not NOCONST:
            return repr(truthy(c.const))
        if c.typ == "bool":
            return x
        return f"({x} is True or ({x} is not False and {x} is not None and truthy({x})))"

    # -- constants and stack --

    def op_PUSH_CONST(self, a: Any, b: Any) -> None:
        text, typ = lit(a, self.tr.names, f"K{self.tr.serial}_{self.i}")
        self.stack.append(Entry(text, False, typ, const=a))

    def op_PUSH_NIL(self, a: Any, b: Any) -> None:
        self.stack.append(Entry("None", False, "nil", const=None))

    def op_PUSH_TRU(self, a: Any, b: Any) -> None:
        self.stack.append(Entry("True", False, "bool", const=True))

    def op_PUSH_FLS(self, a: Any, b: Any) -> None:
        self.stack.append(Entry("False", False, "bool", const=False))

    def op_POP(self, a: Any, b: Any) -> None:
        if self.stack[-1].expr:
            self.flush()
        self.stack.pop()

    def op_DUP(self, a: Any, b: Any) -> None:
        if self.stack[-1].expr:
            self.flush()
        e = self.stack[-1]
        self.stack.append(Entry(e.text, False, e.typ, e.locs, const=e.const))

    def op_DUP2(self, a: Any, b: Any) -> None:
        self.flush()
        x, y = self.stack[-2], self.stack[-1]
        self.stack.append(Entry(x.text, False, x.typ, x.locs, const=x.const))
        self.stack.append(Entry(y.text, False, y.typ, y.locs, const=y.const))

    # -- variables --

    def _protect(self, slot: int) -> None:
        """Before slot is rewritten, copy stack entries that still name it."""
        for k, e in enumerate(self.stack):
            if slot in e.locs:
                self.emit(f"s{k} = {e.text}", e.at if e.expr else SKIP)
                self.stack[k] = Entry(f"s{k}", typ=e.typ)

    def op_LOAD_LOCAL(self, a: Any, b: Any) -> None:
        if a not in self.assigned:
            self.flush()
            self.emit(f"if l{a} is UNSET: raise vm.unset_error((clo,), {a})")
            self.assigned.add(a)  # from here on it is set (or we raised)
        self.stack.append(Entry(f"l{a}", False, None, frozenset((a,))))

    def op_STORE_LOCAL(self, a: Any, b: Any) -> None:
        (v,) = self.once(1)
        self.flush()
        self._protect(a)
        if v.text != f"l{a}":
            self.emit(f"l{a} = {v.text}", v.at if v.expr else None)
        self.assigned.add(a)

    def op_LOAD_GLOBAL(self, a: Any, b: Any) -> None:
        self.flush()
        v = self.top_var()
        n = repr(a)
        if self.tr.env.inline_builtins and a in self.tr.env.builtins:
            # the registry never loses a builtin, so this is VM.global_missing's answer
            self.emit(f"{v} = G[{n}] if {n} in G else BI[{n}]")
        else:
            self.emit(f"{v} = G[{n}] if {n} in G else vm.global_missing(G, {n})")
        self.stack.append(Entry(v))

    def op_STORE_GLOBAL(self, a: Any, b: Any) -> None:
        (v,) = self.once(1)
        self.flush()
        self.emit(f"G[{a!r}] = {v.text}", v.at if v.expr else None)

    def op_LOAD_UPVAL(self, a: Any, b: Any) -> None:
        self.flush()
        v = self.top_var()
        self.emit(f"if ({v} := U[{a}].v) is UNSET: raise vm.unset_error((clo,), {a}, True)")
        self.stack.append(Entry(v))

    def op_LOAD_CELL(self, a: Any, b: Any) -> None:
        self.flush()
        v = self.top_var()
        self.emit(f"if ({v} := l{a}.v) is UNSET: raise vm.unset_error((clo,), {a})")
        self.stack.append(Entry(v))

    def op_STORE_CELL(self, a: Any, b: Any) -> None:
        (v,) = self.once(1)
        self.flush()
        self.emit(f"l{a}.v = {v.text}", v.at if v.expr else None)

    def op_MAKE_CELL(self, a: Any, b: Any) -> None:
        self.flush()
        self._protect(a)
        self.emit(f"l{a} = Cell(l{a})")
        self.assigned.add(a)

    # -- calls --

    def _call_args(self, argc: int) -> tuple[str, str, int]:
        ops = self.atoms(argc + 1)
        f = ops[0].text
        if ops[0].expr or not f.isidentifier():
            f = f"s{len(self.stack)}"
            self.emit(f"{f} = {ops[0].text}")
        args = "".join(", " + e.text for e in ops[1:])
        return f, args, len(self.stack)

    def op_CALL(self, a: Any, b: Any) -> None:
        f, args, k = self._call_args(a)
        table = self.tr.env.arity_table_name(a, self.tr.names)
        self.emit(f"if {f}.__class__ is Closure: s{k} = {table}[{f}.proto]({f}, d + 1{args})")
        self._builtin_call(f, args, a, k)
        self.stack.append(Entry(f"s{k}"))

    def _builtin_call(self, f: str, args: str, argc: int, k: int) -> None:
        names = [a.strip() for a in args.split(",")[1:]]
        if all(n.isidentifier() for n in names):
            for name, test, run in INLINE_BUILTINS.get(argc, ()):
                b = self.tr.env.builtins[name]
                assert b.cap is None, f"{name} needs {b.cap}: its check must not be bypassed"
                fields = {f"a{i}": n for i, n in enumerate(names)} | {"s": f"s{k}"}
                self.emit(f"elif {f} is {self.need('B_' + name, b)} and ({test.format(**fields)}): "
                          f"{run.format(**fields)}")
        helper = self.tr.env.host_call_name(argc)
        self.emit(f"else: s{k} = {helper}({f}, d{args})")

    def op_CALL_TAIL(self, a: Any, b: Any) -> None:
        f, args, k = self._call_args(a)
        self.emit(f"if {f}.__class__ is Closure:")
        tr = self.tr
        if a == tr.proto.arity and not self.in_loop:
            # calling itself: the new frame is this one with new arguments (and maybe another closure)
            self.emit(f"if {f}.proto is {self.need(f'P{tr.serial}', tr.proto)}:", SKIP, ind=1)
            self.emit(f"clo = {f}", SKIP, ind=2)
            self.emit("t_ += 1", SKIP, ind=2)
            if a:
                self.emit(f"{', '.join(f'l{i}' for i in range(a))} = {args[2:]}", SKIP, ind=2)
            if tr.mode != "struct":
                for text in tr.frame_setup() + ["b_ = 0"]:
                    self.emit(text, SKIP, ind=2)
            self.emit("continue", SKIP, ind=2)
        self.emit(f"if {f}.proto.arity != {a}: raise arity_error({f}.proto.name, {f}.proto.arity, {a})", ind=1)
        # frames removed by tail calls so far, this one and its own self tail calls (traces show them)
        gone = "1 + t_" if tr.self_tail else "1"
        if self.tr.tail:
            self.emit(f"return Tail((TB[{f}.proto], ({f}, d{args}), {gone}))", SKIP, ind=1)
        else:
            self.emit(f"n_ = {gone}", SKIP, ind=1)
            self.emit(f"r_ = TB[{f}.proto]({f}, d{args})", TRAMP, ind=1)
            self.emit("while r_.__class__ is Tail: n_ += r_[2]; r_ = r_[0](*r_[1])", TRAMP, ind=1)
            self.emit("return r_", SKIP, ind=1)
        self._builtin_call(f, args, a, k)
        self.stack.append(Entry(f"s{k}"))

    def op_SYSCALL(self, a: Any, b: Any) -> None:
        ops = self.atoms(b)
        v = self.top_var()
        self.emit("D = d", SKIP)
        f = self.tr.env.builtins.get(a) if self.tr.env.inline_syscall else None
        if f is not None and (f.arity < 0 or f.arity == b):
            # what VM.syscall would look up and check on every call, done once here
            fn = self.need(f"H{self.tr.serial}_{self.i}", f.fn)
            self.emit(f"{v} = {fn}(vm{''.join(', ' + e.text for e in ops)})")
        else:
            self.emit(f"{v} = vm.syscall({a!r}, [{', '.join(e.text for e in ops)}])")
        self.stack.append(Entry(v))

    # -- arithmetic and comparison --

    @staticmethod
    def _is_int(*es: Entry) -> str:
        conds = [f"{e.obj}.__class__ is int" for e in es if e.typ != "int"]
        return " and ".join(conds) or "True"

    @staticmethod
    def _is(cls: str, *es: Entry) -> str:
        """The test that every entry holds a `cls` (int or float): "False" when one is known not to."""
        if any(e.typ not in (cls, None) for e in es):
            return "False"
        return " and ".join(dict.fromkeys(f"{e.obj}.__class__ is {cls}" for e in es if e.typ != cls)) or "True"

    def _same_kind(self, x: Entry, y: Entry, fast: str, slow: str, nonzero: bool = False) -> str:
        """`fast` when x and y are both ints or both floats (and, with nonzero, y is not 0), else
        `slow`: Python's own operation is then exactly the reference's."""
        out = slow
        for cls in ("float", "int"):
            cond = self._is(cls, x, y)
            if cond != "False" and nonzero:
                cond = "False" if y.const == 0 else f"{cond} and {y.obj}" if y.const is NOCONST else cond
            if cond != "False":
                out = f"{fast} if {cond} else {out}"
        return f"({out})"

    def op_ADD(self, a: Any, b: Any) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        locs = x.locs | y.locs
        if x.typ == "str" or y.typ == "str":
            other = y if x.typ == "str" else x
            if other.typ == "str":
                self.push(f"{X} + {Y}", typ="str", locs=locs)
            else:
                self.push(f"({X} + {Y} if {other.obj}.__class__ is str else add({X}, {Y}))", typ="str", locs=locs)
            return
        slow = f"add({X}, {Y})"
        if x.typ is None and y.typ is None:
            slow = f"({X} + {Y} if {X}.__class__ is str and {Y}.__class__ is str else add({X}, {Y}))"
        self.push(self._same_kind(x, y, f"{X} + {Y}", slow), locs=locs)

    def _arith(self, sym: str) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        fast = f"{X} {sym} {Y}"
        self.push(self._same_kind(x, y, fast, f"arith({sym!r}, {X}, {Y})", nonzero=sym in "%/"),
                  locs=x.locs | y.locs)

    def op_SUB(self, a: Any, b: Any) -> None:
        self._arith("-")

    def op_MUL(self, a: Any, b: Any) -> None:
        self._arith("*")

    def op_MOD(self, a: Any, b: Any) -> None:
        self._arith("%")

    def op_DIV(self, a: Any, b: Any) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        # two floats divide inline; int / int stays with arith (a huge quotient must not raise)
        cond = self._is("float", x, y)
        cond = "False" if cond == "False" or y.const == 0 else cond if y.const is not NOCONST else f"{cond} and {Y}"
        slow = f"arith('/', {X}, {Y})"
        self.push(slow if cond == "False" else f"({X} / {Y} if {cond} else {slow})", locs=x.locs | y.locs)

    @staticmethod
    def _slot(e: Entry) -> Optional[int]:
        """The local slot e is (its text `l3`), or None for anything else."""
        return int(e.text[1:]) if e.text[:1] == "l" and e.text[1:].isdigit() else None

    def _num_known(self, e: Entry) -> bool:
        """Is e's value certainly a number: a number literal, or a local a comparison proved one?"""
        return e.typ in ("int", "float") or self._slot(e) in self.nums

    def _compare(self, sym: str) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        locs = x.locs | y.locs
        if self._num_known(x) and self._num_known(y):
            self.push(f"{X} {sym} {Y}", typ="bool", locs=locs)  # Python orders int and float as ilusm does
        elif x.typ in ("int", "float", None) and y.typ in ("int", "float", None):
            # ints and floats in any mix: Python orders them exactly as ilusm does
            cond = " and ".join(f"({e.obj}.__class__ is int or {e.obj}.__class__ is float)"
                                for e in (x, y) if e.typ is None) or "True"
            self.push(f"({X} {sym} {Y} if {cond} else compare({sym!r}, {X}, {Y}))", typ="bool", locs=locs)
            # once it has run without raising, a local compared with a number holds one too
            for e, other in ((x, y), (y, x)):
                if self._num_known(other) and self._slot(e) is not None:
                    self.stack[-1].proves = self._slot(e)
        elif x.typ == "str" and y.typ == "str":
            self.push(f"{X} {sym} {Y}", typ="bool", locs=locs)
        else:
            self.push(f"compare({sym!r}, {X}, {Y})", typ="bool", locs=locs)

    def op_LT(self, a: Any, b: Any) -> None:
        self._compare("<")

    def op_GT(self, a: Any, b: Any) -> None:
        self._compare(">")

    def op_LE(self, a: Any, b: Any) -> None:
        self._compare("<=")

    def op_GE(self, a: Any, b: Any) -> None:
        self._compare(">=")

    def _equal(self, negate: bool) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        locs = x.locs | y.locs
        eqop, isop, slow = ("!=", "is not", f"not eq({X}, {Y})") if negate else ("==", "is", f"eq({X}, {Y})")
        if x.const is not NOCONST and y.const is not NOCONST:
            r = eq(x.const, y.const) != negate
            self.push(repr(r), expr=False, typ="bool", const=r)
        elif any(e.typ in ("nil", "bool") and e.const is not NOCONST for e in (x, y)):
            # eq(v, nil/tru/fls) is identity: bools never equal numbers.
            var, con = (y, x) if x.const is not NOCONST else (x, y)
            self.push(f"{var.obj} {isop} {con.text}", typ="bool", locs=locs)
        elif x.typ in ("int", "str") or y.typ in ("int", "str"):
            known, other = (x, y) if x.typ in ("int", "str") else (y, x)
            if other.typ == known.typ:
                self.push(f"{X} {eqop} {Y}", typ="bool", locs=locs)
            elif other.typ is None and known.typ == "int" and self._num_known(other):
                self.push(f"{X} {eqop} {Y}", typ="bool", locs=locs)  # a number equals an int as in Python
            elif other.typ is None:
                self.push(f"({X} {eqop} {Y} if {other.obj}.__class__ is {known.typ} else {slow})", typ="bool",
                          locs=locs)
            else:
                self.push(slow, typ="bool", locs=locs)
        elif x.typ is None and y.typ is None:
            X, Y = x.obj, y.obj
            cond = f"{X}.__class__ is {Y}.__class__ and ({X}.__class__ is int or {X}.__class__ is str)"
            # values of two classes are equal only as numbers (values.eq): settle the rest here
            apart = f"{X}.__class__ is not {Y}.__class__ and ({X}.__class__ not in NUMS or {Y}.__class__ not in NUMS)"
            self.push(f"({X} {eqop} {Y} if {cond} else {negate} if {apart} else {slow})", typ="bool", locs=locs)
        else:
            self.push(slow, typ="bool", locs=locs)

    def op_EQ(self, a: Any, b: Any) -> None:
        self._equal(False)

    def op_NEQ(self, a: Any, b: Any) -> None:
        self._equal(True)

    def op_NEG(self, a: Any, b: Any) -> None:
        (x,) = self.atoms(1)
        X = x.obj
        if x.typ == "int":
            self.push(f"(-{X})", typ="int")
        else:
            self.push(f"(-{X} if {X}.__class__ is int else neg({X}))", locs=x.locs)

    def op_NOT(self, a: Any, b: Any) -> None:
        (x,) = self.once(1)
        if x.typ == "bool":
            self.push(f"(not {x.text})", typ="bool", locs=x.locs)
        else:
            self.push(f"(not truthy({x.text}))", typ="bool", locs=x.locs)

    def op_RANGE(self, a: Any, b: Any) -> None:
        x, y = self.once(2)
        self.push(f"range_list({x.text}, {y.text})", locs=x.locs | y.locs)

    def op_CONCAT(self, a: Any, b: Any) -> None:
        parts = self.once(a)
        texts = [p.text if p.typ == "str" else f"to_str({p.text})" for p in parts]
        locs: frozenset[int] = frozenset().union(*(p.locs for p in parts))
        if not texts:
            self.push("''", expr=False, typ="str")
        elif len(texts) == 1:
            self.push(texts[0], typ="str", locs=locs)
        else:
            self.push(f"''.join(({', '.join(texts)}))", typ="str", locs=locs)

    # -- containers --

    def op_MAKE_LIST(self, a: Any, b: Any) -> None:
        items = self.once(a)
        locs: frozenset[int] = frozenset().union(*(p.locs for p in items))
        self.push(f"[{', '.join(e.text for e in items)}]", locs=locs)

    def op_MAKE_OBJ(self, a: Any, b: Any) -> None:
        flat = self.once(2 * a)
        locs: frozenset[int] = frozenset().union(*(p.locs for p in flat))
        if all(flat[k].typ == "str" for k in range(0, 2 * a, 2)):
            pairs = ", ".join(f"{flat[k].text}: {flat[k + 1].text}" for k in range(0, 2 * a, 2))
            self.push(f"{{{pairs}}}", locs=locs)
        else:
            self.push(f"make_obj({a}, [{', '.join(e.text for e in flat)}])", locs=locs)

    def op_GET_IDX(self, a: Any, b: Any) -> None:
        o, i = self.atoms(2)
        O, I = o.obj, i.obj
        locs = o.locs | i.locs
        if i.typ == "str":
            self.push(f"({O}.get({I}) if {O}.__class__ is dict else get_index({O}, {I}))", locs=locs)
        elif i.typ == "int" and i.const is not NOCONST:
            rng = f"{I} < len({O})" if i.const >= 0 else f"{I} >= -len({O})"
            self.push(f"({O}[{I}] if {O}.__class__ is list and {rng} else get_index({O}, {I}))", locs=locs)
        else:
            # negative indices take the slow path; an object read by a string key is inline too
            self.push(f"({O}[{I}] if {O}.__class__ is list and {I}.__class__ is int and 0 <= {I} < len({O}) "
                      f"else {O}.get({I}) if {O}.__class__ is dict and {I}.__class__ is str "
                      f"else get_index({O}, {I}))", locs=locs)

    def op_SET_IDX(self, a: Any, b: Any) -> None:
        o, k, v = self.atoms(3)
        O, K, V = o.obj, k.obj, v.text
        if k.typ == "str":
            self.emit(f"if {O}.__class__ is dict: {O}[{K}] = {V}")
        elif k.typ == "int":
            self.emit(f"if {O}.__class__ is list and -len({O}) <= {K} < len({O}): {O}[{K}] = {V}")
        else:
            self.emit(f"if {O}.__class__ is list and {K}.__class__ is int and 0 <= {K} < len({O}): {O}[{K}] = {V}")
        self.emit(f"else: set_index({O}, {K}, {V})")
        self.stack.append(o)

    def op_GET_FIELD(self, a: Any, b: Any) -> None:
        (o,) = self.atoms(1)
        O = o.obj
        self.push(f"({O}.get({a!r}) if {O}.__class__ is dict else get_field({O}, {a!r}))", locs=o.locs)

    def op_SET_FIELD(self, a: Any, b: Any) -> None:
        o, v = self.atoms(2)
        O, V = o.obj, v.text
        self.emit(f"if {O}.__class__ is dict: {O}[{a!r}] = {V}")
        self.emit(f"else: set_field({O}, {a!r}, {V})")
        self.stack.append(o)

    # -- iteration --

    def op_ITER(self, a: Any, b: Any) -> None:
        self._iterator(a, "iter_items")

    def op_ITER2(self, a: Any, b: Any) -> None:
        self._iterator(a, "iter_pairs")

    def _iterator(self, a: Any, helper: str) -> None:
        """Store in local a the iterator `helper` makes of the popped value."""
        (x,) = self.once(1)
        self.flush()
        self._protect(a)
        self.emit(f"l{a} = {helper}({x.text})", x.at if x.expr else None)
        self.assigned.add(a)

    def op_ITER_RANGE(self, a: Any, b: Any) -> None:
        x, y = self.once(2)
        self.flush()
        self._protect(a)
        self.emit(f"l{a} = iter_range({x.text}, {y.text})")
        self.assigned.add(a)

    # -- functions and modules --

    def op_MAKE_CLOSURE(self, a: Any, b: Any) -> None:
        self.flush()
        p = self.need(f"P{self.tr.env.serial_of(a)}", a)
        ups = [f"l{i}" if kind == 0 else f"U[{i}]" for kind, i in a.upvals]
        tup = "()" if not ups else f"({', '.join(ups)},)"
        locs = frozenset(i for kind, i in a.upvals if kind == 0)
        self.push(f"Closure({p}, {tup}, clo.module)", locs=locs)

    def op_USE(self, a: Any, b: Any) -> None:
        self.flush()
        v = self.top_var()
        self.emit("D = d", SKIP)
        self.emit(f"{v} = vm.import_module({a!r})")
        self.stack.append(Entry(v))

    def op_IMPORT_ALL(self, a: Any, b: Any) -> None:
        (x,) = self.atoms(1)
        self.emit(f"G.update({x.text})")


_COVERED = {name for name in dir(BlockGen) if name.startswith(("op_", "term_"))}
# An instruction that ends a block is translated by its term_ method, any other by its op_ method.
# (A superinstruction is translated as its parts.)
_MISSING_OPS = [op.name for op in isa.TABLE
                if not op.parts and ("term_" if op.ends_block else "op_") + op.name not in _COVERED]
assert not _MISSING_OPS, f"fast.py: no translation for {_MISSING_OPS}"

