"""The fast tier's side of the tracing JIT: the back-edge hooks generated into a function's loops.

A loop the JIT may trace (stage0/jit/runtime.py: loop_state, traceable)
counts its back edges in a local, kept in a namespace global between calls;
every JT of them its code calls `JL` (Jit.fast_loop), which runs the loop's
trace and says how to go on. Once the loop has a trace, the function is
translated again and calls `JL` at every back edge; a blacklisted loop gets
no hook at all.
"""
from __future__ import annotations

from typing import Any

from stage0.fast.flow import SKIP, Flow
from stage0.interp.loader import Proto

Line = list[Any]  # as gen.Line: [indent, text, instruction index or SKIP]


class JitHooks:
    """The hooked loops of one function, by header block: (header pc, last pc of the loop, pc of
    its exit block or -1, whether it has a trace). Only loops entered with an empty stack, made
    of instructions a trace can hold, and not blacklisted; none without a JIT."""

    def __init__(self, proto: Proto, flow: Flow, jit: Any, serial: int) -> None:
        self.proto, self.serial = proto, serial
        self.loops: dict[int, tuple[int, int, int, bool]] = {}
        if jit is None:
            return
        for h in flow.headers:
            pc = flow.blocks[h].start
            state = jit.loop_state(proto, pc)
            end = max(flow.blocks[x].end - 1 for x in flow.body[h])
            if (flow.blocks[h].depth == 0 and flow.exits[h] != -1 and state != "black"
                    and jit.traceable(proto, pc, end)):
                ex = flow.exits[h]
                self.loops[h] = (pc, end, -1 if ex is None else flow.blocks[ex].start, state == "trace")

    def counter(self, h: int) -> str:
        """The namespace global keeping loop h's count of back edges between calls (the local
        n<h> counts while the loop runs)."""
        return f"N{self.serial}_{h}"

    def counters(self) -> list[str]:
        """The globals of the loops that still count."""
        return [self.counter(h) for h, loop in self.loops.items() if not loop[3]]

    def setup(self) -> list[str]:
        """Frame setup: each counting loop's local starts from its global."""
        return [f"n{h} = {self.counter(h)}" for h, loop in self.loops.items() if not loop[3]]

    def after_loop(self, h: int, ind: int) -> list[Line]:
        """After loop h: keep its count for the next call."""
        if h not in self.loops or self.loops[h][3]:
            return []
        return [[ind, f"{self.counter(h)} = n{h}", SKIP]]

    def back_edge(self, h: int, ind: int) -> list[Line]:
        """Count a back edge of loop h; every JT of them (every one, once the loop has a trace),
        let the JIT run the loop (Jit.fast_loop), then take its locals and carry on, leave the
        loop, or return as it says."""
        pc, end, ex, direct = self.loops[h]
        ls = "".join(f"l{i}, " for i in range(self.proto.nlocals))
        n = f"n{h}"
        out = [] if direct else [[ind, f"{n} += 1", SKIP], [ind, f"if {n} >= JT:", SKIP]]
        ind += 0 if direct else 1
        if direct:
            out.append([ind, f"r_ = JL(clo, d, {pc}, {end}, {ex}, [{ls}], True)", SKIP])
        else:  # JL sets the counter: from zero, or to call again at the next back edge
            out.append([ind, f"r_ = JL(clo, d, {pc}, {end}, {ex}, [{ls}], False, {self.counter(h)!r})", SKIP])
            out.append([ind, f"{n} = {self.counter(h)}", SKIP])
        out.append([ind, "if r_:", SKIP])
        if ls:
            out.append([ind + 1, f"{ls}= r_[1]", SKIP])
        out += [[ind + 1, "if r_[0] == 1: break", SKIP], [ind + 1, "if r_[0] == 2: return r_[2]", SKIP]]
        return out
