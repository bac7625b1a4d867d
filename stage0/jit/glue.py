"""Entry and exit glue: Python source generated per trace, as the fast tier generates code.

`make_glue(desc, address, fns=...)` gives `enter(locs, g, room)`. It checks
the kind of every live-in local against the recording (the entry guard) and
packs it into the trace's slot array, checks that each global the trace
inlines a function of still holds that function (`fns`, read from g) and that
the frame stack has room for the inlined calls, calls the native trace, and then runs the code of the
exit the trace returned: write back the locals that exit names, read its
operand stack, and give `(pc, stack, exit id)`. When an entry guard fails it
gives None and nothing has changed. The encodings are jit.ilu's: an int is
an i64 word, a float its IEEE bits, a bool 0 or 1, nil nothing, a range
iterator its next index (start, step and length in context words), a list
its address, a list iterator its next index (the list's address in a
context word), a function its place in `fns`; a generic value (kind "any", in
a trace built with type specialisation off) its 64 bits with a kind tag word
beside it (trc.ilu's TAG: 0 nil, 1 bool, 2 int, 3 float). The addresses of the float and int types are context words
too: run-time addresses never appear in the IR, so cached code stays valid.
"""
from __future__ import annotations

import ctypes
import functools
from typing import Any, Callable, Optional

from stage0.jit.record import I64_MAX, I64_MIN, LIST_ITER, RANGE_ITER, range_fits

Glue = Callable[[list[Any], int], Optional[tuple[int, list[Any], int]]]

# How an entry guard tests a live-in of each kind (`v` is the local's value).
_CHECK = {"int": "v.__class__ is not int or not MIN <= v <= MAX", "flt": "v.__class__ is not float",
          "bool": "v.__class__ is not bool", "nil": "v is not None", "rng": "v.__class__ is not RANGE_ITER",
          "lst": "v.__class__ is not list", "lit": "v.__class__ is not LIST_ITER"}


def _read(kind: str, word: int, tag: int) -> str:
    """The Python expression of a value of `kind` stored in slot word `word`, with its tag in
    word `tag` when it is generic (a list as its address: a local holds it, so it is alive)."""
    return {"int": f"I[{word}]", "flt": f"D[{word}]", "bool": f"I[{word}] != 0", "nil": "None",
            "lst": f"OBJ(I[{word}])", "fn": f"FNS[I[{word}]]", "any": f"UNPACK({word}, {tag})"}[kind]


def _entry_lines(desc: dict[str, Any]) -> list[str]:
    """The entry guard and packing of each live-in, then the call."""
    ctx = {slot: base for slot, base in desc["layout"]["ranges"] + desc["layout"]["iters"]}
    out = ["def enter(locs, room):"]
    if desc["depth"]:
        out.append(f"    if room < {desc['depth']}: return None")
    out += [f"    if SCOPES[{k}].get({name!r}) is not FNS[{i}]: return None"
            for i, (k, name) in enumerate(desc["globals"])]
    tags = desc["layout"]["tags"]
    for slot, kind in desc["live_in"]:
        if kind == "any":
            out.append(f"    if not PACK(locs[{slot}], {slot}, {tags + slot}): return None")
            continue
        out += [f"    v = locs[{slot}]", f"    if {_CHECK[kind]}: return None"]
        if kind in ("rng", "lit"):
            words = "range_words" if kind == "rng" else "list_words"
            out += [f"    i = {words}(v, {ctx[slot]})", "    if i is None: return None", f"    I[{slot}] = i"]
        elif kind == "lst":
            out.append(f"    I[{slot}] = id(v)")
        elif kind == "flt":
            out.append(f"    D[{slot}] = v")
        elif kind != "nil":
            out.append(f"    I[{slot}] = v")
    out += ["    e = FN(ADDR)", "    return EXITS[e](locs)"]
    return out


def _fresh(kind: str, slot: int, base: int) -> str:
    """The Python expression of an iterator the trace made, from its context words and index."""
    if kind == "new_rng":
        return f"NEW_RANGE(I[{base}], I[{base + 1}], I[{base + 2}], I[{slot}])"
    return f"NEW_ITER(OBJ(I[{base}]), I[{slot}])"


def _exit_lines(k: int, x: dict[str, Any], layout: dict[str, Any], words: dict[int, int]) -> list[str]:
    """The code of exit k: read its stack and its locals, write the locals back, say where to
    resume. Every value is read before any local is written: a list the trace left in a local
    may be held only by a list that another local's old value holds."""
    out = [f"def x{k}(locs):"]
    at, stride, tags = layout["stack"], layout["stride"], layout["tags"]
    stack = ", ".join(_read(kind, at + stride * i, at + stride * i + 1) for i, kind in enumerate(x["stack"]))
    out.append(f"    s = [{stack}]")
    values = [(slot, _fresh(kind, slot, words[slot]) if kind.startswith("new_") else _read(kind, slot, tags + slot))
              for slot, kind in x["locals"] if kind != "rng" and kind != "lit"]
    if values:
        out.append("    " + ", ".join(f"locs[{slot}]" for slot, _ in values) + " = " + ", ".join(v for _, v in values))
    out += [f"    locs[{slot}].__setstate__(I[{slot}])" for slot, kind in x["locals"] if kind in ("rng", "lit")]
    out.append(f"    return ({x['pc']}, s, {k})")
    return out


_KINDS = frozenset(_CHECK) | {"any"}
TYPES = (float, int, list)  # the Python types of list elements a trace reads, as jit.ilu's TYPES
# The kind tag of a generic value, by its Python type's name, as trc.ilu's TAG (nil, bool, int, flt).
TAG = {"NoneType": 0, "bool": 1, "int": 2, "float": 3}
_STACK_KINDS = _KINDS | {"fn"}  # an exit may leave a function to be called on the stack
_LOCAL_KINDS = _KINDS | {"new_rng", "new_lit"}  # or write back an iterator the trace made
_EXIT_KINDS = frozenset({"loop", "side", "guard", "budget"})


def _count(v: Any) -> bool:
    return type(v) is int and 0 <= v < 1 << 31


def _pairs(v: Any, kinds: frozenset[str] = _KINDS) -> bool:
    """A list of [slot, kind]."""
    return type(v) is list and all(type(p) is list and len(p) == 2 and _count(p[0]) and p[1] in kinds for p in v)


def valid_desc(desc: Any) -> bool:
    """Whether a trace description read from the disk cache has exactly the shape jit.ilu gives:
    the glue is generated from it, so nothing else may reach the generator."""
    if type(desc) is not dict or type(desc.get("fname")) is not str or not desc["fname"].isidentifier():
        return False
    layout, exits = desc.get("layout"), desc.get("exits")
    if type(layout) is not dict or not all(_count(layout.get(k)) for k in ("ctx", "force", "types", "stack", "count",
                                                                           "tags")):
        return False
    if layout.get("stride") not in (1, 2) or type(layout["stride"]) is not int:
        return False
    if type(desc.get("nested")) is not bool:
        return False
    for name in ("ranges", "iters", "words"):
        words = layout.get(name)
        if type(words) is not list or not all(type(p) is list and len(p) == 2 and _count(p[0]) and _count(p[1])
                                              for p in words):
            return False
    if not _pairs(desc.get("live_in")) or type(exits) is not list or len(exits) > 1 << 16:
        return False
    names = desc.get("globals")
    if type(names) is not list or not _count(desc.get("depth")) or not all(
            type(n) is list and len(n) == 2 and _count(n[0]) and type(n[1]) is str for n in names):
        return False
    known = {slot for slot, _ in layout["words"]}
    return all(type(x) is dict and _count(x.get("pc")) and x.get("kind") in _EXIT_KINDS
               and _pairs(x.get("locals"), _LOCAL_KINDS)
               and all(slot in known for slot, kind in x["locals"] if kind.startswith("new_"))
               and type(x.get("stack")) is list and all(k in _STACK_KINDS for k in x["stack"]) for x in exits)


def make_glue(desc: dict[str, Any], address: int, force: int = -1, fns: Any = (),
              scopes: Any = ()) -> tuple[Glue, Any]:
    """The entry function of a compiled trace and its slot array (tests set the force word); fns
    are what the globals and fields the trace reads held when it was recorded (desc["globals"]:
    [scope, name] pairs; scopes are those objects: module globals, modules)."""
    layout = desc["layout"]
    words = layout["stack"] + layout["stride"] * max((len(x["stack"]) for x in desc["exits"]), default=0)
    slots = (ctypes.c_int64 * max(words, 1))()
    slots[layout["force"]] = force
    doubles = (ctypes.c_double * len(slots)).from_buffer(slots)
    for i, t in enumerate(TYPES):  # what list reads and writes guard, in jit.ilu's TYPES order
        slots[layout["types"] + i] = id(t)
    # A trace that reads Python objects holds the GIL (PYFUNCTYPE); one over numbers only lets it go.
    functype = ctypes.PYFUNCTYPE if desc.get("objects") else ctypes.CFUNCTYPE
    env: dict[str, Any] = {
        "I": slots, "D": doubles, "MIN": I64_MIN, "MAX": I64_MAX,
        "RANGE_ITER": RANGE_ITER, "LIST_ITER": LIST_ITER, "ADDR": ctypes.addressof(slots),
        "FN": functype(ctypes.c_int64, ctypes.c_void_p)(address),
        "OBJ": lambda a: ctypes.cast(a, ctypes.py_object).value, "FNS": tuple(fns), "SCOPES": tuple(scopes),
        "range_words": lambda it, base: range_words(slots, it, base), "NEW_RANGE": new_range, "NEW_ITER": new_iter,
        "list_words": lambda it, base: list_words(slots, it, base),
        "PACK": lambda v, word, tag: pack(slots, doubles, v, word, tag),
        "UNPACK": lambda word, tag: unpack(slots, doubles, word, tag)}
    words = dict(layout["words"])

    def first(k: int) -> Callable[[list[Any]], Any]:
        """Exit k's code, made the first time the trace leaves by it: a trace may have hundreds
        of exits, most never taken, and making them all would cost more than compiling it."""
        exec(compile("\n".join(_exit_lines(k, desc["exits"][k], layout, words)) + "\n",  # noqa: S102
                     f"<glue {desc['fname']} exit {k}>", "exec"), env)
        env["EXITS"][k] = env[f"x{k}"]
        return env["EXITS"][k]  # type: ignore[no-any-return]

    env["EXITS"] = [functools.partial(_made_then_run, first, k) for k in range(len(desc["exits"]))]
    exec(compile("\n".join(_entry_lines(desc)) + "\n", f"<glue {desc['fname']}>", "exec"), env)  # noqa: S102
    return env["enter"], slots


def _made_then_run(make: Callable[[int], Callable[[list[Any]], Any]], k: int, locs: list[Any]) -> Any:
    """An exit's placeholder: make its code, then run it."""
    return make(k)(locs)


def range_words(slots: Any, it: Any, base: int) -> Optional[int]:
    """Put a range iterator's start, step and length in its context words; give its next index,
    or None when a value of the range would not fit an i64."""
    _, (r,), i = it.__reduce__()
    n = len(r)
    if not range_fits(r):
        return None
    slots[base], slots[base + 1], slots[base + 2] = r.start, r.step, n
    return int(i)


def list_words(slots: Any, it: Any, base: int) -> Optional[int]:
    """Put the list a list iterator walks in its context word; give its next index, or None
    when the iterator is spent (it no longer holds the list)."""
    state = it.__reduce__()
    if len(state) != 3:
        return None
    slots[base] = id(state[1][0])
    return int(state[2])


def new_range(start: int, step: int, size: int, i: int) -> Any:
    """A range iterator the trace made (its start, step and length), at index i."""
    it = iter(range(start, start + size * step, step))
    it.__setstate__(i)  # type: ignore[attr-defined]
    return it


def new_iter(xs: list[Any], i: int) -> Any:
    """A list iterator the trace made, over xs, at index i."""
    it = iter(xs)
    it.__setstate__(i)  # type: ignore[attr-defined]
    return it


def pack(slots: Any, doubles: Any, v: Any, word: int, tag: int) -> bool:
    """Put a generic live-in in its word (doubles: the slots seen as floats) and its kind tag in
    word `tag`; False for a value a generic trace does not hold (an int past i64, or no number,
    bool or nil)."""
    c = v.__class__
    if c is int:
        if not I64_MIN <= v <= I64_MAX:
            return False
        slots[word] = v
    elif c is float:
        doubles[word] = v
    elif c is bool:
        slots[word] = int(v)
    elif v is None:
        slots[word] = 0
    else:
        return False
    slots[tag] = TAG[c.__name__]
    return True


def unpack(slots: Any, doubles: Any, word: int, tag: int) -> Any:
    """The value a generic trace left in `word`, of the kind its tag says."""
    t = slots[tag]
    if t == TAG["int"]:
        return slots[word]
    if t == TAG["float"]:
        return doubles[word]
    return slots[word] != 0 if t == TAG["bool"] else None
