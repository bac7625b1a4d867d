"""Control-flow analysis for the fast host tier: basic blocks, dominators, loops, definite assignment.

It starts from the verifier's analysis (stack depth before each instruction,
block leaders), which the loader keeps on each Proto, and reads what each
opcode does to control and to local slots from the ISA table. The translator
(gen.py) turns this into structured Python; the tier is described in
docs/fast_tier.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, cast

from stage0 import isa
from stage0.interp.loader import Proto

OPS = {op.name: op.code for op in isa.TABLE}
NAMES = {op.code: op.name for op in isa.TABLE}

# Where the loader's `(op, a, b)` keeps each instruction's jump target and
# slot (1: a, 2: b), by opcode byte, for the opcodes the ISA table marks as
# jumping, reading or writing a local slot, or naming a closure's function.
_TARGET = {op.code: 1 + op.role_at("jump") for op in isa.TABLE if op.is_jump}
_READS = {op.code: tuple(1 + i for i in op.slot_positions) for op in isa.TABLE if op.reads_slot}
_WRITES = {op.code: 1 + op.role_at("slot") for op in isa.TABLE if op.writes_slot}
_CLOSES = {op.code: 1 + op.role_at("func") for op in isa.TABLE if "func" in op.roles}

SKIP = -1           # a generated line that stands for no ilusm frame
TRAMP = -2          # a trampoline line: the frame it runs was entered by `n_` tail calls
DUP_LIMIT = 24      # merge blocks this small are duplicated instead of joined
MAX_INDENT = 95     # Python refuses more than 100 levels of indentation
MAX_NEST = 1000     # give up on structure this deep before `elif` flattening


class Unstructured(Exception):
    """The structured emitter cannot express this control flow."""


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
    """Blocks, dominators, loops and definite assignment of one prototype.

    Starts from the verifier's analysis (stack depth before each instruction,
    block leaders), which the loader keeps on the Proto."""

    def __init__(self, proto: Proto) -> None:
        self.proto = proto
        self.blocks = self._split(proto)
        self.block_at = {bl.start: bl.id for bl in self.blocks}
        self.preds: list[list[int]] = [[] for _ in self.blocks]
        for bl in self.blocks:
            bl.succs = self._succs(bl)
            for s in bl.succs:
                self.preds[s].append(bl.id)
        self._dominators()
        self._loops()
        self._assigned()

    @staticmethod
    def _split(proto: Proto) -> list[Block]:
        """The reachable instructions cut into basic blocks: a block starts at a
        leader or after unreachable code."""
        blocks: list[Block] = []
        start = prev = -2
        for i, d in enumerate(proto.depths):
            if d is None:
                continue
            if i in proto.leaders or i != prev + 1:
                if start >= 0:
                    blocks.append(Block(len(blocks), start, prev + 1, proto.depths[start] or 0, []))
                start = i
            prev = i
        if start >= 0:
            blocks.append(Block(len(blocks), start, prev + 1, proto.depths[start] or 0, []))
        return blocks

    def _succs(self, bl: Block) -> list[int]:
        """The blocks control may go to from bl: the fall-through one first, then a jump's target."""
        ins = self.proto.code[bl.end - 1]
        op = isa.BY_CODE[ins[0]]
        succs = [self.block_at[bl.end]] if op.falls else []
        if op.is_jump:
            succs.append(self.block_at[ins[_TARGET[ins[0]]]])
        return succs

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
        back = self._back_edges()
        self.headers = set(back)
        self.body = {h: self._loop_body(h, srcs) for h, srcs in back.items()}
        self._nesting()
        pre, last = self._preorder()
        self.closed = self._closed(pre, last)
        self.exits = {h: self._exit(h, body, pre, last) for h, body in self.body.items()}
        nb = len(self.blocks)
        self.merge = [self.fwd_preds[b] >= 2 for b in range(nb)]
        self.dup = self._duplicable()

    def _back_edges(self) -> dict[int, list[int]]:
        """The sources of the back edges into each loop header; sets fwd_preds (forward
        edges into each block) and reducible (no retreating edge that is not a back edge)."""
        self.reducible = True
        back: dict[int, list[int]] = {}
        self.fwd_preds = [0] * len(self.blocks)
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
        return back

    def _loop_body(self, h: int, srcs: list[int]) -> set[int]:
        """The natural loop of header h: h and every block that reaches a back edge's source without h."""
        body = {h}
        work = [s for s in srcs if s != h]
        body.update(work)
        while work:
            x = work.pop()
            for p in self.preds[x]:
                if p not in body and p in self.order:
                    body.add(p)
                    work.append(p)
        return body

    def _nesting(self) -> None:
        """inner: the innermost loop of each block; home: the loop around a header's own loop."""
        nb = len(self.blocks)
        self.inner: list[Optional[int]] = [None] * nb
        for h in sorted(self.headers, key=lambda x: -len(self.body[x])):
            for x in self.body[h]:
                self.inner[x] = h
        self.home: list[Optional[int]] = list(self.inner)
        for h in self.headers:
            outer = [g for g in self.headers if g != h and h in self.body[g]]
            self.home[h] = min(outer, key=lambda g: len(self.body[g])) if outer else None

    def _preorder(self) -> tuple[list[int], list[int]]:
        """Each block's number in a preorder walk of the dominator tree, and the last
        number inside its subtree (so y is in x's subtree when pre[x] <= pre[y] <= last[x])."""
        nb = len(self.blocks)
        pre, last = [0] * nb, [0] * nb
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
        return pre, last

    def _closed(self, pre: list[int], last: list[int]) -> list[bool]:
        """For each block: nothing it dominates leaves its dominator subtree (it ends in
        returns), so its code can sit anywhere, even inside a loop it exits."""
        nb = len(self.blocks)
        lo = [pre[x] for x in range(nb)]
        hi = [pre[x] for x in range(nb)]
        for x in reversed(self.rpo):  # children before parents
            for s in self.blocks[x].succs:
                lo[x], hi[x] = min(lo[x], pre[s]), max(hi[x], pre[s])
            for k in self.kids[x]:
                lo[x], hi[x] = min(lo[x], lo[k]), max(hi[x], hi[k])
        return [pre[x] <= lo[x] and hi[x] <= last[x] for x in range(nb)]

    def _exit(self, h: int, body: set[int], pre: list[int], last: list[int]) -> Optional[int]:
        """The block after loop h (None: the loop is never left; -1: no single exit).
        Every other way out must end in returns (closed) or be a `brk` stub that only
        leads on to the exit."""
        outs = {s for x in body for s in self.blocks[x].succs if s not in body}
        own = [s for s in self.blocks[h].succs if s not in body]
        for e in sorted(outs, key=lambda e: (e not in own, e)):
            if all(s == e or self.closed[s] or (self.fwd_preds[s] == 1 and s not in self.headers
                                                and self._escapes(s, pre, last) <= {e}) for s in outs):
                return e
        return None if not outs else -1

    def _duplicable(self) -> list[bool]:
        """Merge blocks small enough, and free of merges and loop headers in their
        dominator subtree, to be copied into each predecessor instead of joined."""
        nb = len(self.blocks)
        size = [0] * nb
        plain = [True] * nb   # subtree without merges and loop headers
        for b in reversed(self.rpo):
            bl = self.blocks[b]
            size[b] = bl.end - bl.start + sum(size[k] for k in self.kids[b])
            plain[b] = b not in self.headers and all(plain[k] and not self.merge[k] for k in self.kids[b])
        return [self.merge[b] and plain[b] and size[b] <= DUP_LIMIT and b not in self.headers
                for b in range(nb)]

    def _assigned(self) -> None:
        """Definitely-assigned local slots at each block entry (bit sets); slots that need an UNSET start."""
        proto, code, nb = self.proto, self.proto.code, len(self.blocks)
        full = (1 << proto.nlocals) - 1
        gen = [0] * nb
        for bl in self.blocks:
            for i in range(bl.start, bl.end):
                for slot in self.writes(code[i]):
                    gen[bl.id] |= 1 << slot
        ins = [full] * nb
        ins[0] = (1 << proto.arity) - 1
        outs = [full] * nb
        changed = True
        while changed:
            changed = False
            for b in self.rpo:
                if b:
                    cur = full
                    for p in self.preds[b]:
                        cur &= outs[p]
                    ins[b] = cur
                o = ins[b] | gen[b]
                if o != outs[b]:
                    outs[b] = o
                    changed = True
        self.ins = [frozenset(s for s in range(proto.nlocals) if m >> s & 1) for m in ins]
        need: set[int] = set()
        for b in self.rpo:
            have = ins[b]
            for i in range(self.blocks[b].start, self.blocks[b].end):
                need.update(s for s in self.reads(code[i]) if not have >> s & 1)
                for slot in self.writes(code[i]):
                    have |= 1 << slot
        self.init = sorted(s for s in need if s >= proto.arity)

    @staticmethod
    def writes(ins: tuple[int, Any, Any]) -> tuple[int, ...]:
        """Local slots the instruction assigns."""
        at = _WRITES.get(ins[0])
        return () if at is None else (ins[at],)

    @staticmethod
    def reads(ins: tuple[int, Any, Any]) -> tuple[int, ...]:
        """Local slots the instruction reads (the Python local must exist): its slot
        operand, or the slots whose cells a new closure captures."""
        ats = _READS.get(ins[0])
        if ats is not None:
            return tuple(ins[at] for at in ats)
        at = _CLOSES.get(ins[0])
        if at is not None:
            callee = cast(Proto, ins[at])
            return tuple(i for kind, i in callee.upvals if kind == 0)
        return ()
