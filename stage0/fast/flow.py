"""Control-flow analysis for the fast host tier: basic blocks, stack depths, definite assignment.

The translator (fast_gen.py) turns this into structured Python; the tier is described in fast.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from stage0 import isa
from stage0.interp.loader import Proto

OPS = {op.name: op.code for op in isa.TABLE}
NAMES = {op.code: op.name for op in isa.TABLE}

# Taken-branch stack effect of each jump (the fall-through path uses the table).
JUMPS = {"JUMP": 0, "JUMP_IF": -1, "JUMP_UNLESS": -1, "JUMP_IF_NIL": 0, "FOR_NEXT": 0, "FOR_NEXT2": 0}
assert {op.name for op in isa.TABLE if op.is_jump} == set(JUMPS), "fast.py: a jump opcode without a rule"

SKIP = -1           # a generated line that stands for no ilusm frame
DUP_LIMIT = 24      # merge blocks this small are duplicated instead of joined
MAX_INDENT = 95     # Python refuses more than 100 levels of indentation
MAX_NEST = 1000     # give up on structure this deep before `elif` flattening


def _effect(op: isa.Op) -> Callable[[Any, Any], tuple[int, int]]:
    """(pops, pushes) of op from its decoded operands (a, b), from the ISA table's formula."""
    factor, at, const = op.pop_rule
    pushes = op.pushes
    if at < 0:
        effect = (const, pushes)
        return lambda a, b: effect
    return lambda a, b: (factor * (a, b)[at] + const, pushes)


EFFECT = {op.code: _effect(op) for op in isa.TABLE}


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
    """Blocks, dominators, loops and definite assignment of one prototype."""

    def __init__(self, proto: Proto) -> None:
        # Past the size budget: block discovery and the stack-depth walk share
        # their worklist state. A candidate for a later tidy-up.
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
            pops, pushes = EFFECT[op](a, b)
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
                    nxt.append((i + 1, d - pops + pushes))
            else:
                nxt.append((i + 1, d - pops + pushes))
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
        # Past the size budget: one pass over the blocks fills several related
        # tables; splitting it would re-walk them. A candidate for a later tidy-up.
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

