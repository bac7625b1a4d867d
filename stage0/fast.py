"""The fast host tier: each ILBC function translated once into Python code.

`FastVM` is the reference `VM` with one change: a function runs as Python code
generated from its ILBC, instead of through the interpreter loop. The
translation happens lazily, on a function's first call, and is cached for the
life of the VM (one compiled Python function per prototype, two when the
function makes tail calls).

How a function is translated (see docs/fast_tier.md for a worked example):

* Stack depths are static (the verifier guarantees one depth per
  instruction), so stack slot k is the Python local `sk` and ilusm local
  slot n is the Python local `ln` (parameters first, as Python parameters).
  Values that are cheap and pure (constants, locals, stack slots) are not
  copied at all: the translator keeps a symbolic stack and writes operands
  straight into the expressions that use them; operations that may raise are
  kept in instruction order.
* Basic blocks become structured Python: conditional jumps become `if/else`,
  loops become `while True:` (or `for` over the iterator of an ilusm `x <- e`
  loop), `brk`/`cnt` become `break`/`continue`, joins become the code after an
  `if`. A function whose control flow does not fit (irreducible, or jumps out
  of several constructs) falls back to a `while True:` dispatch over block
  numbers; deep nesting falls back further to one case per block.
* The common cases of the hot opcodes are inlined (int arithmetic and
  comparison, str concatenation, dict fields, list indexing, constant keys);
  everything else calls the shared functions of values.py, the handlers of
  handlers.py, or the VM's own methods, so every message and every edge case
  is the reference interpreter's by construction.
* An ilusm call is a direct Python call of the callee's generated function,
  through a per-arity table indexed by prototype number (a wrong arity lands
  on a function that raises the reference's arity error). A tail call returns
  a `Tail` marker to a trampoline in the nearest non-tail caller, so a
  million-step tail loop runs in constant Python stack.
* Depth: a global counter of remaining frames (`R`), decremented on entry
  and restored on return; exhausting it is the catchable `stack overflow`.
  Exceptions do not restore it per frame: `FastVM.call`, through which every
  host entry runs, restores it.
* Traces: every generated code object maps its Python line numbers to ILBC
  lines. An uncaught error's trace is rebuilt from the Python traceback (plus
  the live frames above it), skipping lines that stand for no ilusm frame
  (prologues, trampolines), so it equals the reference VM's trace.
"""
from __future__ import annotations

import sys
import warnings
from dataclasses import dataclass
from types import CodeType, FrameType, TracebackType
from typing import Any, Callable, Optional, TextIO

from stage0 import handlers, isa
from stage0.errors import RuntimeErr
from stage0.image import Image
from stage0.loader import Proto
from stage0.values import (UNSET, Builtin, Cell, Closure, add, arith, compare, eq, get_field, get_index,
                           make_range, neg, set_field, set_index, to_str, truthy, type_name)
from stage0.vm import DEFAULT_MAX_DEPTH, VM, arity_error

OPS = {op.name: op.code for op in isa.TABLE}
NAMES = {op.code: op.name for op in isa.TABLE}

# Taken-branch stack effect of each jump (the fall-through path uses the table).
JUMPS = {"JUMP": 0, "JUMP_IF": -1, "JUMP_UNLESS": -1, "JUMP_IF_NIL": 0, "FOR_NEXT": 0, "FOR_NEXT2": 0}
assert {op.name for op in isa.TABLE if op.is_jump} == set(JUMPS), "fast.py: a jump opcode without a rule"

SKIP = -1           # a generated line that stands for no ilusm frame
DUP_LIMIT = 24      # merge blocks this small are duplicated instead of joined
MAX_INDENT = 90     # Python refuses more than 100 levels of indentation


class Unstructured(Exception):
    """The structured emitter cannot express this control flow."""


class Tail(tuple):  # type: ignore[type-arg]
    """A pending tail call `(function, args)`, returned to the nearest trampoline."""

    __slots__ = ()


def _via(handler: Callable[..., None]) -> Callable[..., Any]:
    """Run a slot-storing handler (ITER, ITER2, ITER_RANGE) on values; return what it stored."""

    def run(*vals: Any) -> Any:
        fr: list[Any] = [None, [None], None, 0]
        handler(None, fr, list(vals), 0, 0)
        return fr[1][0]

    return run


def _make_obj(n: int, flat: list[Any]) -> dict[str, Any]:
    """MAKE_OBJ through its handler (key checks and messages stay the reference's)."""
    handlers.op_MAKE_OBJ(None, None, flat, n, 0)  # type: ignore[arg-type]
    return flat[0]  # type: ignore[no-any-return]


def _cannot_call(f: Any) -> RuntimeErr:
    """The reference loop's error for calling a non-function."""
    return RuntimeErr(f"cannot call {type_name(f)}")


def _wrong_arity(clo: Any, *args: Any) -> Any:
    """Stands in the per-arity call tables for every function of another arity."""
    p = clo.proto
    raise arity_error(p.name, p.arity, len(args))


# ---- analysis ----------------------------------------------------------------------

@dataclass
class Block:
    """A basic block: instructions [start, end), its terminator and successors."""

    id: int
    start: int
    end: int
    depth: int
    succs: list[int]


class Flow:
    """Blocks, dominators, loops and definite assignment of one prototype."""

    def __init__(self, proto: Proto) -> None:
        self.proto = proto
        code = proto.code
        n = len(code)
        depth: list[Optional[int]] = [None] * n
        depth[0] = 0
        work = [0]
        leaders = {0}
        while work:
            i = work.pop()
            op, a, b = code[i]
            name = NAMES[op]
            d = depth[i]
            assert d is not None
            spec = isa.BY_CODE[op]
            pops, pushes = spec.stack_delta((a, b)[:len(spec.operands)]) if not spec.is_jump \
                else (spec.pops, spec.pushes)  # type: ignore[assignment]
            nxt: list[tuple[int, int]] = []
            if name == "RET":
                if i + 1 < n:
                    leaders.add(i + 1)
            elif name in JUMPS:
                target = b if name in ("FOR_NEXT", "FOR_NEXT2") else a
                leaders.add(target)
                if i + 1 < n:
                    leaders.add(i + 1)
                nxt.append((target, d + JUMPS[name]))
                if name != "JUMP":
                    nxt.append((i + 1, d - int(pops) + pushes))
            else:
                nxt.append((i + 1, d - int(pops) + pushes))
            for j, dj in nxt:
                if depth[j] is None:
                    depth[j] = dj
                    work.append(j)
        self.depth = depth
        reach = [i for i in range(n) if depth[i] is not None]
        # split into blocks
        blocks: list[Block] = []
        start = None
        prev = -2
        for i in reach:
            if start is None or i in leaders or i != prev + 1 or self._ends_block(code[prev][0]):
                if start is not None:
                    blocks.append(Block(len(blocks), start, prev + 1, depth[start] or 0, []))
                start = i
            prev = i
        if start is not None:
            blocks.append(Block(len(blocks), start, prev + 1, depth[start] or 0, []))
        self.blocks = blocks
        self.block_at = {bl.start: bl.id for bl in blocks}
        for bl in blocks:
            op, a, b = code[bl.end - 1]
            name = NAMES[op]
            if name == "RET":
                bl.succs = []
            elif name == "JUMP":
                bl.succs = [self.block_at[a]]
            elif name in JUMPS:
                target = b if name in ("FOR_NEXT", "FOR_NEXT2") else a
                bl.succs = [self.block_at[bl.end], self.block_at[target]]  # [fall, taken]
            else:
                bl.succs = [self.block_at[bl.end]]
        self.preds: list[list[int]] = [[] for _ in blocks]
        for bl in blocks:
            for s in bl.succs:
                self.preds[s].append(bl.id)
        self._dominators()
        self._loops()
        self._assigned()

    @staticmethod
    def _ends_block(op: int) -> bool:
        return NAMES[op] == "RET" or NAMES[op] in JUMPS

    def _dominators(self) -> None:
        """Reverse postorder and immediate dominators (Cooper, Harvey, Kennedy)."""
        nb = len(self.blocks)
        seen = [False] * nb
        post: list[int] = []
        stack: list[tuple[int, int]] = [(0, 0)]
        seen[0] = True
        while stack:
            node, k = stack.pop()
            succs = self.blocks[node].succs
            if k < len(succs):
                stack.append((node, k + 1))
                s = succs[len(succs) - 1 - k]  # visit fall-through first in RPO
                if not seen[s]:
                    seen[s] = True
                    stack.append((s, 0))
            else:
                post.append(node)
        self.rpo = post[::-1]
        self.order = {b: i for i, b in enumerate(self.rpo)}
        idom: list[Optional[int]] = [None] * nb
        idom[0] = 0
        changed = True
        while changed:
            changed = False
            for b in self.rpo[1:]:
                new = None
                for p in self.preds[b]:
                    if idom[p] is None:
                        continue
                    if new is None:
                        new = p
                        continue
                    x, y = p, new
                    while x != y:
                        while self.order[x] > self.order[y]:
                            x = idom[x]  # type: ignore[assignment]
                        while self.order[y] > self.order[x]:
                            y = idom[y]  # type: ignore[assignment]
                    new = x
                if idom[b] != new:
                    idom[b] = new
                    changed = True
        self.idom = idom
        self.kids: list[list[int]] = [[] for _ in range(nb)]
        for b in self.rpo[1:]:
            self.kids[idom[b]].append(b)  # type: ignore[index]

    def _escapes(self, x: int, pre: list[int], last: list[int]) -> set[int]:
        """Blocks outside x's dominator subtree that edges from inside it reach."""
        inside = [y for y in self.rpo if pre[x] <= pre[y] <= last[x]]
        return {s for y in inside for s in self.blocks[y].succs if not pre[x] <= pre[s] <= last[x]}

    def dominates(self, a: int, b: int) -> bool:
        """True when block a dominates block b."""
        while True:
            if a == b:
                return True
            if b == 0:
                return False
            b = self.idom[b]  # type: ignore[assignment]

    def _loops(self) -> None:
        """Back edges, natural loops, loop exits; merge and duplicable blocks."""
        nb = len(self.blocks)
        self.reducible = True
        back: dict[int, list[int]] = {}
        self.fwd_preds = [0] * nb
        for b in self.rpo:
            for s in self.blocks[b].succs:
                if self.order[s] <= self.order[b]:
                    if self.dominates(s, b):
                        back.setdefault(s, []).append(b)
                    else:
                        self.reducible = False
                        self.fwd_preds[s] += 1
                else:
                    self.fwd_preds[s] += 1
        self.headers = set(back)
        self.body: dict[int, set[int]] = {}
        for h, srcs in back.items():
            body = {h}
            work = [s for s in srcs if s != h]
            body.update(work)
            while work:
                x = work.pop()
                for p in self.preds[x]:
                    if p not in body and p in self.order:
                        body.add(p)
                        work.append(p)
            self.body[h] = body
        # innermost loop of each block; the loop around a header's own loop is its home
        self.inner: list[Optional[int]] = [None] * nb
        for h in sorted(self.headers, key=lambda x: -len(self.body[x])):
            for x in self.body[h]:
                self.inner[x] = h
        self.home: list[Optional[int]] = list(self.inner)
        for h in self.headers:
            outer = [g for g in self.headers if g != h and h in self.body[g]]
            self.home[h] = min(outer, key=lambda g: len(self.body[g])) if outer else None
        # a closed block: nothing it dominates leaves its dominator subtree (it ends in returns),
        # so its code can sit anywhere, even inside a loop it exits
        pre = [0] * nb
        last = [0] * nb
        counter = 0
        stack: list[tuple[int, bool]] = [(0, False)]
        while stack:
            x, done = stack.pop()
            if done:
                last[x] = counter - 1
                continue
            pre[x] = counter
            counter += 1
            stack.append((x, True))
            stack.extend((k, False) for k in reversed(self.kids[x]))
        lo = [pre[x] for x in range(nb)]
        hi = [pre[x] for x in range(nb)]
        for x in reversed(self.rpo):  # children before parents
            for s in self.blocks[x].succs:
                lo[x], hi[x] = min(lo[x], pre[s]), max(hi[x], pre[s])
            for k in self.kids[x]:
                lo[x], hi[x] = min(lo[x], lo[k]), max(hi[x], hi[k])
        self.closed = [pre[x] <= lo[x] and hi[x] <= last[x] for x in range(nb)]
        self.exits: dict[int, Optional[int]] = {}
        for h, body in self.body.items():
            outs = {s for x in body for s in self.blocks[x].succs if s not in body}
            own = [s for s in self.blocks[h].succs if s not in body]
            exit_: Optional[int] = None if not outs else -1
            # The exit is the block after the loop; every other way out must end in returns
            # (closed) or be a `brk` stub that only leads on to the exit.
            for e in sorted(outs, key=lambda e: (e not in own, e)):
                if all(s == e or self.closed[s] or (self.fwd_preds[s] == 1 and s not in self.headers
                                                    and self._escapes(s, pre, last) <= {e}) for s in outs):
                    exit_ = e
                    break
            self.exits[h] = exit_
        self.merge = [self.fwd_preds[b] >= 2 for b in range(nb)]
        size = [0] * nb
        plain = [True] * nb   # subtree without merges and loop headers
        for b in reversed(self.rpo):
            bl = self.blocks[b]
            size[b] = bl.end - bl.start + sum(size[k] for k in self.kids[b])
            plain[b] = b not in self.headers and all(plain[k] and not self.merge[k] for k in self.kids[b])
        self.dup = [self.merge[b] and plain[b] and size[b] <= DUP_LIMIT and b not in self.headers
                    for b in range(nb)]

    def _assigned(self) -> None:
        """Definitely-assigned local slots at each block entry; slots that need an UNSET start."""
        proto, code, nb = self.proto, self.proto.code, len(self.blocks)
        full = frozenset(range(proto.nlocals))
        params = frozenset(range(proto.arity))
        ins: list[frozenset[int]] = [full] * nb
        ins[0] = params
        outs: list[frozenset[int]] = [full] * nb
        changed = True
        while changed:
            changed = False
            for b in self.rpo:
                if b:
                    cur = full
                    for p in self.preds[b]:
                        if p in self.order:
                            cur = cur & outs[p]
                    ins[b] = cur
                got = set(ins[b])
                for i in range(self.blocks[b].start, self.blocks[b].end):
                    got.update(self.writes(code[i]))
                o = frozenset(got)
                if o != outs[b]:
                    outs[b] = o
                    changed = True
        self.ins = ins
        need: set[int] = set()
        for b in self.rpo:
            have = set(ins[b])
            for i in range(self.blocks[b].start, self.blocks[b].end):
                need.update(s for s in self.reads(code[i]) if s not in have)
                have.update(self.writes(code[i]))
        self.init = sorted(s for s in need if s >= proto.arity)

    @staticmethod
    def writes(ins: tuple[int, Any, Any]) -> tuple[int, ...]:
        """Local slots the instruction assigns."""
        name = NAMES[ins[0]]
        if name in ("STORE_LOCAL", "ITER", "ITER2", "ITER_RANGE", "MAKE_CELL"):
            return (ins[1],)
        return ()

    @staticmethod
    def reads(ins: tuple[int, Any, Any]) -> tuple[int, ...]:
        """Local slots the instruction reads (the Python local must exist)."""
        name = NAMES[ins[0]]
        if name in ("LOAD_LOCAL", "MAKE_CELL", "LOAD_CELL", "STORE_CELL", "FOR_NEXT", "FOR_NEXT2"):
            return (ins[1],)
        if name == "MAKE_CLOSURE":
            return tuple(i for kind, i in ins[1].upvals if kind == 0)
        return ()


# ---- code generation -----------------------------------------------------------------

NOCONST = object()


class Entry:
    """One symbolic stack slot: Python text, whether it is a pending expression, its type."""

    __slots__ = ("text", "expr", "typ", "locs", "at", "const")

    def __init__(self, text: str, expr: bool = False, typ: Optional[str] = None,
                 locs: frozenset[int] = frozenset(), at: int = -1, const: Any = NOCONST) -> None:
        self.text, self.expr, self.typ, self.locs, self.at, self.const = text, expr, typ, locs, at, const

    @property
    def obj(self) -> str:
        """The text, parenthesized unless it is a name (so `.attr` and `is` are safe after it)."""
        return self.text if self.text.isidentifier() else f"({self.text})"


Line = list[Any]  # [indent, text, instruction index or SKIP]


class Ctx:
    """Where control goes when the current construct falls off its end; the innermost loop."""

    __slots__ = ("follow", "loop", "exit")

    def __init__(self, follow: Optional[int], loop: Optional[int], exit: Optional[int]) -> None:
        self.follow, self.loop, self.exit = follow, loop, exit


class Translator:
    """Generates the Python source of one prototype (entry and, with tail calls, body versions)."""

    def __init__(self, proto: Proto, flow: Flow, env: "FastVM") -> None:
        self.proto, self.flow, self.env = proto, flow, env
        self.code = proto.code
        self.names: dict[str, Any] = {}   # namespace entries this function needs
        self.tail = False                 # generating the body (marker-returning) version
        self.leaf = not any(NAMES[op] in ("CALL", "CALL_TAIL", "SYSCALL", "USE") for op, _, _ in self.code)
        self.has_tail = any(NAMES[op] == "CALL_TAIL" for op, _, _ in self.code)
        self.uses_g = any(NAMES[op] in ("LOAD_GLOBAL", "STORE_GLOBAL", "IMPORT_ALL") for op, _, _ in self.code)
        self.uses_u = any(NAMES[op] == "LOAD_UPVAL" or (NAMES[op] == "MAKE_CLOSURE" and any(k for k, _ in a.upvals))
                          for op, a, _ in self.code)
        self.budget = 0
        self.mode = "struct"

    # ---- whole function ----

    def function(self, fname: str, mode: str, tail: bool) -> list[Line]:
        """The `def` of one version in one mode."""
        self.tail, self.mode = tail, mode
        self.budget = 4 * len(self.code) + 400
        p = self.proto
        params = "".join(f", l{i}" for i in range(p.arity))
        out: list[Line] = [[0, f"def {fname}(clo{params}):", SKIP]]
        if not self.leaf:
            out.append([1, "global R", SKIP])
            out.append([1, "R -= 1", SKIP])
            out.append([1, "if R < 0: raise RuntimeErr('stack overflow')", SKIP])
        else:
            out.append([1, "if R <= 0: raise RuntimeErr('stack overflow')", SKIP])
        if self.uses_g:
            out.append([1, "G = clo.module.globals", SKIP])
        if self.uses_u:
            out.append([1, "U = clo.upvals", SKIP])
        if self.flow.init:
            out.append([1, " = ".join(f"l{s}" for s in self.flow.init) + " = UNSET", SKIP])
        if mode == "struct":
            self.node(0, Ctx(None, None, None), out, 1)
        else:
            self.dispatch(out, mode == "flat")
        return out

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
        name = NAMES[op]
        if (bl.end - bl.start == 1 and name in ("FOR_NEXT", "FOR_NEXT2") and ex == bl.succs[1]
                and not self._writes_in_loop(h, a)):
            d = bl.depth
            target = f"s{d}" if name == "FOR_NEXT" else f"s{d}, s{d + 1}"
            out.append([ind, f"for {target} in l{a}:", bl.start])
            self.branch(h, bl.succs[0], inner, out, ind + 1, [])
        else:
            out.append([ind, "while True:", SKIP])
            self.plain(h, inner, out, ind + 1)
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
        if ind > MAX_INDENT:
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
            if ind > MAX_INDENT:
                raise Unstructured("nesting too deep")
            self.block(t, Ctx(None, None, None), out, ind)

    # ---- one block ----

    def block(self, b: int, ctx: Ctx, out: list[Line], ind: int) -> None:
        """The instructions of block b, then its terminator as structured control flow."""
        bl = self.flow.blocks[b]
        self.budget -= bl.end - bl.start
        if self.budget < 0:
            raise Unstructured("too much duplication")
        st = BlockGen(self, b, out, ind)
        term = st.run()
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

    def __init__(self, tr: Translator, b: int, out: list[Line], ind: int) -> None:
        self.tr, self.out, self.ind = tr, out, ind
        self.bl = tr.flow.blocks[b]
        self.stack: list[Entry] = [Entry(f"s{k}") for k in range(self.bl.depth)]
        self.assigned = set(tr.flow.ins[b])
        self.i = self.bl.start

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
        return ops

    def push(self, text: str, expr: bool = True, typ: Optional[str] = None, locs: frozenset[int] = frozenset(),
             const: Any = NOCONST) -> None:
        self.stack.append(Entry(text, expr, typ, locs, self.i, const))

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
            op, a, b = code[self.i]
            name = NAMES[op]
            if self.i == end - 1:
                term = self.terminator(name, a, b)
                if term is not None:
                    return term
            getattr(self, "op_" + name)(a, b)
            self.i += 1
        # fell into the next block
        self.settle()
        return ("goto", self.bl.succs[0])

    def terminator(self, name: str, a: Any, b: Any) -> Optional[tuple[Any, ...]]:
        if name != "RET" and name not in JUMPS:
            return None
        if name == "RET":
            (v,) = self.once(1)
            if not self.tr.leaf:
                self.emit("R += 1", SKIP)
            self.emit(f"return {v.text}")
            return ("ret",)
        if name == "JUMP":
            self.settle()
            return ("goto", self.bl.succs[0])
        fall, taken = self.bl.succs
        if name in ("JUMP_IF", "JUMP_UNLESS"):
            c = self.stack[-1]
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
            if name == "JUMP_IF":
                return ("cond", cond, self.i, taken, fall, [], [])
            return ("cond", cond, self.i, fall, taken, [], [])
        if name == "JUMP_IF_NIL":
            self.settle()
            return ("cond", f"s{len(self.stack) - 1} is None", self.i, taken, fall, [], [])
        if name == "FOR_NEXT":
            self.settle()
            v = self.top_var()
            return ("cond", f"({v} := next(l{a}, MISS)) is MISS", self.i, taken, fall, [], [])
        if name == "FOR_NEXT2":
            self.settle()
            d = len(self.stack)
            pre = [[self.ind + 1, f"s{d}, s{d + 1} = s{d}", self.i]]
            return ("cond", f"(s{d} := next(l{a}, None)) is None", self.i, taken, fall, [], pre)
        return None

    def truth(self, c: Entry) -> str:
        x = c.text
        if c.const is not NOCONST:
            return repr(truthy(c.const))
        if c.typ == "bool":
            return x
        return f"({x} is True or ({x} is not False and {x} is not None and truthy({x})))"

    # -- constants and stack --

    def op_PUSH_CONST(self, a: Any, b: Any) -> None:
        text, typ = lit(a, self.tr.names, f"K{self.tr.proto.index}_{self.i}")
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
        if self.tr.env.inline_builtins:
            self.emit(f"if ({v} := G.get({n}, MISS)) is MISS and ({v} := BI.get({n}, MISS)) is MISS: "
                      f"{v} = vm.global_missing(G, {n})")
        else:
            self.emit(f"if ({v} := G.get({n}, MISS)) is MISS: {v} = vm.global_missing(G, {n})")
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
        self.emit(f"if {f}.__class__ is Closure: s{k} = {table}[{f}.proto.index]({f}{args})")
        self._builtin_call(f, args, a, k)
        self.stack.append(Entry(f"s{k}"))

    def _builtin_call(self, f: str, args: str, argc: int, k: int) -> None:
        self.emit(f"elif {f}.__class__ is Builtin:")
        self.emit(f"if {f}.arity != {argc} and {f}.arity >= 0: raise arity_error({f}.name, {f}.arity, {argc})",
                  ind=1)
        self.emit(f"s{k} = {f}.fn(vm{args})", ind=1)
        self.emit(f"else: raise cannot_call({f})")

    def op_CALL_TAIL(self, a: Any, b: Any) -> None:
        f, args, k = self._call_args(a)
        self.emit(f"if {f}.__class__ is Closure:")
        self.emit(f"if {f}.proto.arity != {a}: raise arity_error({f}.proto.name, {f}.proto.arity, {a})", ind=1)
        self.emit("R += 1", SKIP, ind=1)
        tup = f"({f}{args},)" if not args else f"({f}{args})"
        if self.tr.tail:
            self.emit(f"return Tail((TB[{f}.proto.index], {tup}))", SKIP, ind=1)
        else:
            self.emit(f"r_ = TB[{f}.proto.index]({f}{args})", SKIP, ind=1)
            self.emit("while r_.__class__ is Tail: r_ = r_[0](*r_[1])", SKIP, ind=1)
            self.emit("return r_", SKIP, ind=1)
        self._builtin_call(f, args, a, k)
        self.stack.append(Entry(f"s{k}"))

    def op_SYSCALL(self, a: Any, b: Any) -> None:
        ops = self.atoms(b)
        v = self.top_var()
        self.emit(f"{v} = vm.syscall({a!r}, [{', '.join(e.text for e in ops)}])")
        self.stack.append(Entry(v))

    # -- arithmetic and comparison --

    @staticmethod
    def _is_int(*es: Entry) -> str:
        conds = [f"{e.obj}.__class__ is int" for e in es if e.typ != "int"]
        return " and ".join(conds) or "True"

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
        if x.typ in ("int", None) and y.typ in ("int", None):
            slow = f"add({X}, {Y})"
            if x.typ is None and y.typ is None:
                slow = f"({X} + {Y} if {X}.__class__ is str and {Y}.__class__ is str else add({X}, {Y}))"
            self.push(f"({X} + {Y} if {self._is_int(x, y)} else {slow})", locs=locs)
            return
        self.push(f"add({X}, {Y})", locs=locs)

    def _arith(self, sym: str) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        locs = x.locs | y.locs
        if x.typ in ("int", None) and y.typ in ("int", None):
            cond = self._is_int(x, y)
            if sym == "%":
                if y.typ != "int":
                    cond += f" and {Y}"
                elif y.const == 0:
                    cond = "False"
            self.push(f"({X} {sym} {Y} if {cond} else arith({sym!r}, {X}, {Y}))", locs=locs)
        else:
            self.push(f"arith({sym!r}, {X}, {Y})", locs=locs)

    def op_SUB(self, a: Any, b: Any) -> None:
        self._arith("-")

    def op_MUL(self, a: Any, b: Any) -> None:
        self._arith("*")

    def op_MOD(self, a: Any, b: Any) -> None:
        self._arith("%")

    def op_DIV(self, a: Any, b: Any) -> None:
        x, y = self.once(2)
        self.push(f"arith('/', {x.text}, {y.text})", locs=x.locs | y.locs)

    def _compare(self, sym: str) -> None:
        x, y = self.atoms(2)
        X, Y = x.text, y.text
        locs = x.locs | y.locs
        if x.typ in ("int", None) and y.typ in ("int", None):
            self.push(f"({X} {sym} {Y} if {self._is_int(x, y)} else compare({sym!r}, {X}, {Y}))", typ="bool",
                      locs=locs)
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
        elif (x.typ in ("nil", "bool") and x.const is not NOCONST) or (y.typ in ("nil", "bool") and y.const is not NOCONST):
            # eq(v, nil/tru/fls) is identity: bools never equal numbers.
            var, con = (y, x) if x.const is not NOCONST else (x, y)
            self.push(f"{var.obj} {isop} {con.text}", typ="bool", locs=locs)
        elif x.typ in ("int", "str") or y.typ in ("int", "str"):
            known, other = (x, y) if x.typ in ("int", "str") else (y, x)
            if other.typ == known.typ:
                self.push(f"{X} {eqop} {Y}", typ="bool", locs=locs)
            elif other.typ is None:
                self.push(f"({X} {eqop} {Y} if {other.obj}.__class__ is {known.typ} else {slow})", typ="bool",
                          locs=locs)
            else:
                self.push(slow, typ="bool", locs=locs)
        elif x.typ is None and y.typ is None:
            X, Y = x.obj, y.obj
            cond = f"{X}.__class__ is {Y}.__class__ and ({X}.__class__ is int or {X}.__class__ is str)"
            self.push(f"({X} {eqop} {Y} if {cond} else {slow})", typ="bool", locs=locs)
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
        self.push(f"list(make_range({x.text}, {y.text}))", locs=x.locs | y.locs)

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
            self.push(f"({O}[{I}] if {O}.__class__ is list and {I}.__class__ is int and -len({O}) <= {I} < len({O}) "
                      f"else get_index({O}, {I}))", locs=locs)

    def op_SET_IDX(self, a: Any, b: Any) -> None:
        o, k, v = self.atoms(3)
        O, K, V = o.obj, k.obj, v.text
        if k.typ == "str":
            self.emit(f"if {O}.__class__ is dict: {O}[{K}] = {V}")
        elif k.typ == "int":
            self.emit(f"if {O}.__class__ is list and -len({O}) <= {K} < len({O}): {O}[{K}] = {V}")
        else:
            self.emit(f"if {O}.__class__ is list and {K}.__class__ is int and -len({O}) <= {K} < len({O}): "
                      f"{O}[{K}] = {V}")
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
        (x,) = self.once(1)
        self.flush()
        self._protect(a)
        self.emit(f"l{a} = iter_items({x.text})", x.at if x.expr else None)
        self.assigned.add(a)

    def op_ITER2(self, a: Any, b: Any) -> None:
        (x,) = self.once(1)
        self.flush()
        self._protect(a)
        self.emit(f"l{a} = iter_pairs({x.text})", x.at if x.expr else None)
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
        p = self.need(f"P{a.index}", a)
        ups = [f"l{i}" if kind == 0 else f"U[{i}]" for kind, i in a.upvals]
        tup = "()" if not ups else f"({', '.join(ups)},)"
        locs = frozenset(i for kind, i in a.upvals if kind == 0)
        self.push(f"Closure({p}, {tup}, clo.module)", locs=locs)

    def op_USE(self, a: Any, b: Any) -> None:
        self.flush()
        v = self.top_var()
        self.emit(f"{v} = vm.import_module({a!r})")
        self.stack.append(Entry(v))

    def op_IMPORT_ALL(self, a: Any, b: Any) -> None:
        (x,) = self.atoms(1)
        self.emit(f"G.update({x.text})")


_COVERED = {name for name in dir(BlockGen) if name.startswith("op_")}
_TERMS = {"RET", "JUMP", "JUMP_IF", "JUMP_UNLESS", "JUMP_IF_NIL", "FOR_NEXT", "FOR_NEXT2"}
_MISSING_OPS = [op.name for op in isa.TABLE if "op_" + op.name not in _COVERED and op.name not in _TERMS]
assert not _MISSING_OPS, f"fast.py: no translation for {_MISSING_OPS}"


# ---- the VM --------------------------------------------------------------------------

class FastVM(VM):
    """The reference VM with every ilusm function run as generated Python code."""

    def __init__(self, image: Image, args: Optional[list[str]] = None, out: TextIO | None = None,
                 err_out: TextIO | None = None, max_depth: int = DEFAULT_MAX_DEPTH,
                 trace: TextIO | None = None) -> None:
        super().__init__(image, args=args, out=out, err_out=err_out, max_depth=max_depth, trace=trace)
        n = len(self.protos)
        self.inline_builtins = type(self).global_missing is VM.global_missing
        self.codemap: dict[CodeType, tuple[Proto, list[int]]] = {}
        self.sources: dict[int, str] = {}   # proto index -> generated source
        self.modes: dict[int, str] = {}     # proto index -> struct | dispatch | flat
        self._entry: list[Callable[..., Any]] = [self._stub(i, False) for i in range(n)]
        self._body: list[Callable[..., Any]] = [self._stub(i, True) for i in range(n)]
        self._tables: dict[int, list[Callable[..., Any]]] = {}
        self._active = 0
        self.ns: dict[str, Any] = {
            "__builtins__": __builtins__, "R": max_depth, "vm": self, "BI": self.builtins,
            "MISS": _MISS, "UNSET": UNSET, "Closure": Closure, "Builtin": Builtin, "Cell": Cell,
            "Tail": Tail, "TB": self._body, "RuntimeErr": RuntimeErr, "arity_error": arity_error,
            "cannot_call": _cannot_call, "add": add, "arith": arith, "compare": compare, "eq": eq,
            "truthy": truthy, "neg": neg, "to_str": to_str, "make_range": make_range,
            "get_index": get_index, "set_index": set_index, "get_field": get_field, "set_field": set_field,
            "make_obj": _make_obj, "iter_items": _via(handlers.op_ITER), "iter_pairs": _via(handlers.op_ITER2),
            "iter_range": _via(handlers.op_ITER_RANGE),
        }

    # ---- lazy translation ----

    def _stub(self, i: int, body: bool) -> Callable[..., Any]:
        """Stands in the tables until proto i is first called; translates it and forwards."""

        def stub(clo: Any, *args: Any) -> Any:
            self.translate(i)
            return (self._body if body else self._entry)[i](clo, *args)

        return stub

    def arity_table_name(self, argc: int, names: dict[str, Any]) -> str:
        """The call table for argc arguments: entry functions, or the arity error for other arities."""
        t = self._tables.get(argc)
        if t is None:
            t = [self._entry[j] if p.arity == argc else _wrong_arity for j, p in enumerate(self.protos)]
            self._tables[argc] = t
            self.ns[f"A{argc}"] = t
        return f"A{argc}"

    def translate(self, i: int) -> None:
        """Generate, compile and install the Python code of proto i (once)."""
        if i in self.sources:
            return
        proto = self.protos[i]
        flow = Flow(proto)
        tr = Translator(proto, flow, self)
        safe = "".join(c if c.isalnum() else "_" for c in proto.name)
        fname = f"f{i}_{safe}"
        bname = f"t{i}_{safe}"
        filename = f"<ilusm:{proto.name}#{i}>"
        modes = ["struct", "dispatch", "flat"] if flow.reducible else ["dispatch", "flat"]
        err: Optional[BaseException] = None
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
            except (Unstructured, SyntaxError, RecursionError, MemoryError) as e:
                err = e
        else:
            raise RuntimeError(f"fast tier cannot translate {proto.name}: {err}")
        self.ns.update(tr.names)
        exec(code, self.ns)
        entry = self.ns.pop(fname)
        body = self.ns.pop(bname) if tr.has_tail else entry
        self.codemap[entry.__code__] = (proto, linemap)
        self.codemap[body.__code__] = (proto, linemap)
        self.sources[i] = src
        self.modes[i] = mode
        self._entry[i] = entry
        self._body[i] = body
        t = self._tables.get(proto.arity)
        if t is not None:
            t[i] = entry

    def source(self, proto: Proto) -> str:
        """The generated Python source of a prototype (translating it if needed)."""
        self.translate(proto.index)
        return self.sources[proto.index]

    # ---- host entry ----

    def call(self, f: Any, args: list[Any]) -> Any:
        """Call an ilusm function from the host (builtins, module bodies) through its generated code."""
        if type(f) is not Closure:
            return super().call(f, args)
        p = f.proto
        if p.arity != len(args):
            raise arity_error(p.name, p.arity, len(args))
        ns = self.ns
        if not self._active:
            ns["R"] = self.max_depth
        saved = ns["R"]
        self._active += 1
        try:
            return self._entry[p.index](f, *args)
        except RuntimeErr as e:
            ns["R"] = saved
            if e.trace is None:
                e.trace = self.trace_of(e.__traceback__)
            raise
        except RecursionError as e:
            ns["R"] = saved
            err = RuntimeErr("stack overflow")
            err.trace = self.trace_of(e.__traceback__)
            raise err from None
        except BaseException:
            ns["R"] = saved
            raise
        finally:
            self._active -= 1

    def trace_of(self, tb: Optional[TracebackType]) -> list[tuple[str, str, int]]:
        """(name, file, line) of every active ilusm frame, outermost first, from the Python stack."""
        sites: list[tuple[FrameType, Optional[int]]] = []
        fr = sys._getframe(1).f_back
        while fr is not None:
            sites.append((fr, fr.f_lineno))
            fr = fr.f_back
        sites.reverse()
        while tb is not None:
            sites.append((tb.tb_frame, tb.tb_lineno))
            tb = tb.tb_next
        trace = []
        for frame, lineno in sites:
            info = self.codemap.get(frame.f_code)
            if info is None or lineno is None:
                continue
            proto, linemap = info
            line = linemap[lineno] if 0 <= lineno < len(linemap) else SKIP
            if line == SKIP:
                continue
            clo = frame.f_locals.get("clo")
            trace.append((proto.name, clo.module.file if clo is not None else "?", line))
        return trace


class _Missing:
    """Marks a missing dictionary entry or an exhausted iterator."""

    __slots__ = ()


_MISS = _Missing()


def _render(lines: list[Line], proto: Proto) -> tuple[str, list[int]]:
    """Source text and its line map (Python line -> ilusm line, or SKIP)."""
    text = []
    linemap = [SKIP]
    plines = proto.lines
    for ind, t, tag in lines:
        text.append("    " * ind + t)
        linemap.append(plines[tag] if tag != SKIP and plines else SKIP)
    return "\n".join(text) + "\n", linemap
