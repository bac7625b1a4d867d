"""The self-hosted VM's side of the JIT: its loops seen as the host's, through `__jit_enter`.

lib/backend/ilusm_vm.ilu runs a guest program's bytecode itself. At each
jump back to a loop header it calls `__jit_enter(proto, header, end, locs, g,
room)` (stage0/host/jit.py), which comes here. A guest function's code is
the host loader's code with the same operands resolved (jump targets as
instruction indices, constants and names as values), one rank word in front:
`GuestProto` keeps it as the host's (op, a, b) triples, so the recorder, the
trace compiler and the glue serve the guest unchanged. Guest values are host
values, except iterators: the guest keeps `{range, n, stop, step}` and
`{xs, i, ...}` objects, which become host range and list iterators while a
trace runs and take the trace's position back when it leaves.
"""
from __future__ import annotations

from typing import Any, Optional

from stage0 import isa
from stage0.errors import RuntimeErr
from stage0.jit.record import LIST_ITER, RANGE_ITER

NOT_A_PROTO = "__jit_enter expects a function of the self-hosted VM"


class GuestProto:
    """A guest function as the JIT keys and records it. It holds the guest's prototype, so
    the prototype (and the id the JIT finds it by) lives as long as the JIT. Any program may
    call `__jit_enter`, so the code is checked first: known opcodes, and slot and jump operands
    in range (a trace reads and writes its slot array by them)."""

    __slots__ = ("guest", "code", "nlocals", "name", "arity", "pad")

    def __init__(self, p: dict[str, Any]) -> None:
        self.guest = p
        code, n, name, arity, pad = p.get("code"), p.get("nlocals"), p.get("name"), p.get("arity"), p.get("pad")
        if (code.__class__ is not list or n.__class__ is not int or name.__class__ is not str
                or arity.__class__ is not int or pad.__class__ is not list or arity + len(pad) != n):
            raise RuntimeErr(NOT_A_PROTO)
        self.code = [_instruction(ins, n, len(code)) for ins in code]
        self.nlocals, self.name, self.arity, self.pad = n, name, arity, pad


def _instruction(ins: Any, nlocals: int, size: int) -> tuple[int, Any, Any]:
    """One guest instruction [rank, a, b, opcode] as the host's (op, a, b), checked."""
    if ins.__class__ is not list or len(ins) != 4 or ins[3].__class__ is not int or ins[3] not in isa.BY_CODE:
        raise RuntimeErr(NOT_A_PROTO)
    for role, v in zip(isa.BY_CODE[ins[3]].roles, ins[1:3]):
        limit = nlocals if role == "slot" else size if role == "jump" else None
        if limit is not None and not (v.__class__ is int and 0 <= v < limit):
            raise RuntimeErr(NOT_A_PROTO)
    return ins[3], ins[1], ins[2]


def host_locals(glocs: list[Any]) -> tuple[list[Any], list[tuple[int, dict[str, Any], Any]]]:
    """The locals a trace sees, and the guest iterators turned into host ones (slot, guest
    iterator, host iterator), whose positions go back when the trace leaves."""
    locs, iters = list(glocs), []
    for slot, v in enumerate(glocs):
        if v.__class__ is not dict:
            continue
        it: Optional[Any] = None
        if v.get("range") is True and all(v.get(k).__class__ is int for k in ("n", "stop", "step")) and v["step"]:
            it = iter(range(v["n"], v["stop"], v["step"]))
        elif (v.get("range") is False and v.get("pairs") is False and v.get("xs").__class__ is list
              and v.get("i").__class__ is int and v["i"] >= 0):
            it = iter(v["xs"])
            it.__setstate__(v["i"])  # type: ignore[attr-defined]
        if it is not None:
            locs[slot] = it
            iters.append((slot, v, it))
    return locs, iters


def guest_locals(glocs: list[Any], locs: list[Any], iters: list[tuple[int, dict[str, Any], Any]]) -> None:
    """Put what a trace left in its locals back into the guest's: values as they are, each
    iterator's position into the guest iterator it came from, and an iterator the trace made
    (an inner loop's) as a new guest iterator."""
    mine = {id(it): g for _, g, it in iters}
    for slot, v in enumerate(locs):
        if v.__class__ is RANGE_ITER or v.__class__ is LIST_ITER:
            g = mine.get(id(v))
            glocs[slot] = _guest_iter(v, g)
        else:
            glocs[slot] = v


def _guest_iter(it: Any, g: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The guest iterator g at host iterator it's position (only its position changes); a new
    guest iterator when g is None."""
    state = it.__reduce__()
    if it.__class__ is RANGE_ITER:
        _, (r,), i = state
        if g is None:
            return {"range": True, "n": r.start + i * r.step, "stop": r.stop, "step": r.step}
        g["n"] = r.start + i * r.step
        return g
    if g is None:  # a spent list iterator no longer holds its list
        return ({"xs": state[1][0], "i": state[2], "obj": None, "pairs": False, "range": False} if len(state) == 3
                else {"xs": [], "i": 0, "obj": None, "pairs": False, "range": False})
    g["i"] = state[2] if len(state) == 3 else len(g["xs"])
    return g
