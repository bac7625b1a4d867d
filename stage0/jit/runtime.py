"""The JIT's mechanism on the host: counters, the trace table, policy and statistics.

An engine calls `Jit.back_edge(proto, header, end, locs, g, room)` each time
a loop jumps back to its header (g: the function's module globals, which
inlined calls read; room: the calls the frame stack has room for). The
first `threshold` times it only counts. Then
the recorder (record.py) runs one iteration dry, lib/backend/jit.ilu turns
the recording into LLVM IR and an exit table, stage0/host/mch.py compiles
the IR, glue.py generates the entry and exit code, and the trace hangs on
the header. From then on `back_edge` enters the trace; what it gives back is
where the engine resumes: `(pc, stack)`, or None to carry on at the header
as if nothing happened.

Policy (../shared/spec/jit.md §3): a trace that leaves by side or guard
exits (or fails its entry guard) `deopt_limit` times is dropped and the
header records again; after MAX_RECORDINGS recordings or MAX_ABORTS aborted
ones the header is blacklisted. A trace entered HOT_ENTRIES times, or
that ran 2^20 iterations at once, is recompiled with LLVM's O2 pipeline and
swapped in. Traces are bounded per
process (MCJIT never frees code).
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Mapping, Optional

from stage0.errors import RuntimeErr
from stage0.jit.cache import Cache, compiler_sources
from stage0.jit.glue import make_glue, valid_desc
from stage0.jit.guest import NOT_A_PROTO, GuestProto, guest_locals, host_locals
from stage0.jit.knobs import DEFAULTS, empty_stats
from stage0.jit.record import LOOP_ENDED, Abort, closure_proto, kind_of, record, record_side, traceable
from stage0.values import GuestFn

MAX_RECORDINGS = 3    # traces one header may have over a run, before it is blacklisted
MAX_ABORTS = 3        # aborted recordings of one header, before it is blacklisted
MAX_ENDED = 64        # recordings of one header that met the loop's end; each later one counts as an abort
MAX_TRACES = 2000     # traces one process may compile: MCJIT never frees their code
HOT_ENTRIES = 8       # entries after which a trace is recompiled at O2 (or its first budget exit)
SIDE_HOT = 2          # side exits at one site before its path is recorded into the trace
MAX_SIDES = 8         # side paths one trace may hold
MAX_RETRANSLATIONS = 4  # times the fast tier makes one function's code again for the JIT
# A trace entered SHORT_ENTRIES times whose loop ran fewer than SHORT_OPS recorded ops an entry on
# average (iterations times the ops of one) costs more to enter and leave than the engine takes
# to run them: its header is blacklisted (a trace with inner loops is spared: their iterations
# are not counted).
SHORT_ENTRIES, SHORT_OPS = 64, 100
SHORT = "too few iterations per entry"


class Trace:
    """A compiled loop: its cache key, description (IR, exit table, live-ins, layout), glue and
    counters."""

    __slots__ = ("key", "desc", "enter", "slots", "deopts", "entries", "optimised", "rec", "code", "sides", "bad",
                 "leaving", "fns", "scopes", "iterations")

    def __init__(self, key: str, desc: dict[str, Any], address: int, optimised: bool = False,
                 scopes: Optional[list[Any]] = None) -> None:
        self.key, self.desc = key, desc
        self.scopes = scopes or [{}]    # what its globals are read from: its module's globals first
        self.fns = [self.scopes[k].get(name) for k, name in desc["globals"]]
        self.enter, self.slots = make_glue(desc, address, fns=self.fns, scopes=self.scopes)
        self.deopts = self.entries = self.iterations = 0
        self.optimised = optimised
        self.rec: dict[str, Any] = {}            # the recording it was compiled from (Jit.build)
        self.code: list[Any] = []                # its function's code, for recording side paths
        self.sides: dict[str, int] = {}          # side exits taken, by site (without P or L)
        self.bad: set[str] = set()               # sites (without P or L) whose side path could not be added
        self.leaving: set[str] = set()           # sites (without P or L) whose other way leaves the loop


# Native functions already in this process's engine, by name: MCJIT accepts a second definition
# of a symbol silently, so an object is loaded from the cache at most once.
_ADDRESSES: dict[str, int] = {}
# What jit.ilu made of each recording this process compiled, by cache key (the same key always
# gives the same description): a VM made again, or a recording met again, skips jit.ilu.
_DESCS: dict[str, dict[str, Any]] = {}
MAX_DESCS = 512

# Bump when the recording, the slot layout or the exit protocol changes meaning: old cache
# entries then stop matching.
PROTOCOL = 5


def trace_key(rec: dict[str, Any], machine: dict[str, str]) -> str:
    """The cache key of a recording: sha256 of the recording, the trace compiler's source
    (compiler_sources()), the protocol version and the machine's fingerprint."""
    h = hashlib.sha256()
    for path in compiler_sources():
        h.update(path.read_bytes())
    h.update(json.dumps([PROTOCOL, machine, rec], sort_keys=True).encode("utf-8"))
    return h.hexdigest()


@functools.lru_cache(maxsize=4)
def _trace_compiler(folder: Optional[Path] = None) -> Any:
    """lib/backend/jit.ilu, compiled by the seed compiler and running on the fast tier (once per
    process, when the first loop gets hot): its host VM and its compile_trace. With a disk
    cache, the compiled image is kept there (Cache.compiler), which saves the compile."""
    from stage0.fast.vm import FastVM

    image = Cache(folder).compiler(_compile_trace_compiler) if folder is not None else _compile_trace_compiler()
    vm = FastVM(image)
    return vm, vm.run_main()["compile_trace"]


def _compile_trace_compiler() -> Any:
    """jit.ilu (and the modules it uses: compiler_sources()) compiled by the seed compiler."""
    from stage0.paths import lib_root
    from stage0.seedc.driver import compile_file

    return compile_file(lib_root() / "backend" / "jit.ilu")


def toolchain_jit() -> Optional["Jit"]:
    """The JIT the toolchain's own VMs run with (the compiler, the self-hosted VM's host): none,
    unless ILUSM_JIT_TOOLCHAIN=on, so bootstrap.py can show the bytes are the same with it."""
    if os.environ.get("ILUSM_JIT_TOOLCHAIN", "off").lower() != "on":
        return None
    return jit_from_env()


def jit_from_env(environ: Optional[Mapping[str, str]] = None) -> Optional["Jit"]:
    """The JIT `ilusm run` starts with: the default knobs, ILUSM_JIT_THRESHOLD, ILUSM_JIT_TYPE_SPEC
    (off: generic traces, as jit.enable_type_spec(fls)), and the disk cache
    of ILUSM_JIT_CACHE_DIR and ILUSM_JIT_CACHE_MAX_BYTES; None when ILUSM_JIT=off. A malformed
    value is a usage error."""
    from stage0.errors import UsageError
    from stage0.jit.cache import cap_from_env, folder_from_env

    env = os.environ if environ is None else environ
    if env.get("ILUSM_JIT", "on").lower() in ("off", "0", "no"):
        return None
    settings = dict(DEFAULTS)
    raw = env.get("ILUSM_JIT_THRESHOLD")
    if raw is not None:
        if not raw.isdigit() or int(raw) < 1:
            raise UsageError(f"ILUSM_JIT_THRESHOLD must be a whole number of at least 1, got '{raw}'")
        settings["threshold"] = int(raw)
    spec = env.get("ILUSM_JIT_TYPE_SPEC", "on").lower()
    if spec not in ("on", "off"):
        raise UsageError(f"ILUSM_JIT_TYPE_SPEC must be on or off, got '{spec}'")
    settings["type_spec"] = spec == "on"
    folder = folder_from_env(env)
    return Jit(settings, cache=None if folder is None else Cache(folder, cap_from_env(env)))


class Jit:
    """One process's JIT."""

    def __init__(self, settings: Optional[dict[str, Any]] = None, force_exit: Optional[int] = None,
                 cache: Optional[Cache] = None, short_ops: int = SHORT_OPS) -> None:
        self.settings = dict(DEFAULTS, **(settings or {}))
        self.short_ops = short_ops  # SHORT_OPS; tests that must keep every trace give 0
        self.cache = cache  # the disk cache of native code; None: compile every trace
        self.force_exit = force_exit  # tests: every trace leaves by this exit id once per entry
        self.counts: dict[tuple[Any, int], int] = {}
        self.traces: dict[tuple[Any, int], Trace] = {}
        self.recordings: dict[tuple[Any, int], int] = {}
        self.aborted: dict[tuple[Any, int], int] = {}
        self.ended: dict[tuple[Any, int], int] = {}  # recordings that met the loop's end, by header
        self.black: set[tuple[Any, int]] = set()
        self.compiled: list[dict[str, Any]] = []  # every trace's description, dropped ones too
        self.last_abort = ""                      # the reason of the latest abort
        self.vms: list[Any] = []                      # the fast-tier VMs this JIT serves (bind)
        self.retranslated: dict[Any, int] = {}        # settle() calls per prototype
        self.stats: dict[str, Any] = empty_stats()
        self.guests: dict[int, GuestProto] = {}       # the self-hosted VM's functions, by their id

    def configure(self, key: str, value: Any) -> None:
        """Set one knob (jit.set_threshold and the others)."""
        if key not in DEFAULTS:
            raise RuntimeErr(f"unknown jit setting '{key}'")
        self.settings[key] = value
        for vm in self.vms:
            vm.ns["JT"] = self.settings["threshold"]

    def bind(self, vm: Any) -> None:
        """Serve a fast-tier VM: keep its namespace's JT (the back edges its loops count) at the
        threshold, and have it translate a function again once the JIT settles one of its loops."""
        vm.ns["JT"] = self.settings["threshold"]
        self.vms.append(vm)

    def traceable(self, proto: Any, header: int, end: int) -> bool:
        """Whether the loop could become a trace at all (record.traceable): the fast tier counts
        only such loops, and the others cost nothing."""
        return traceable(proto.code, header, end)

    def loop_state(self, proto: Any, header: int) -> Optional[str]:
        """What the fast tier's code for a loop should do: "trace" (call the JIT at every back
        edge: it runs the trace), "black" (nothing: the loop stays in Python), or None (count)."""
        key = (proto, header)
        return "trace" if key in self.traces else "black" if key in self.black else None

    def settle(self, proto: Any) -> None:
        """A loop of proto got a trace or was blacklisted: its fast-tier code is made again
        without the counter (a few times per function at most)."""
        n = self.retranslated.get(proto, 0)
        if n < MAX_RETRANSLATIONS:
            self.retranslated[proto] = n + 1
            for vm in self.vms:
                vm.retranslate(proto)

    # ---- the engines' hook ----------------------------------------------------

    def back_edge(self, proto: Any, header: int, end: int, locs: list[Any], g: Optional[dict[str, Any]] = None,
                  room: int = 0) -> Optional[tuple[int, list[Any]]]:
        """A loop jumped back to `header` (from the jump at `end`): count, compile, or run the
        trace. Gives (pc, stack) to resume at, or None to carry on at the header. g holds the
        module's globals; room is how many calls deep the frame stack may still go."""
        key = (proto, header)
        t = self.traces.get(key)
        if t is None:
            if not self.hot(key, proto.code, end):
                return None
            t = self.compile(key, proto, end, locs, g)
        return None if t is None else self.run(key, t, locs, room)

    def guest_proto(self, p: dict[str, Any]) -> GuestProto:
        """The JIT's view of the self-hosted VM's prototype p (made once, then kept)."""
        proto = self.guests.get(id(p))
        if proto is None:
            proto = self.guests[id(p)] = GuestProto(p)
        return proto

    def guest_fn_proto(self, v: Any) -> Any:
        """The prototype of a self-hosted VM's function a guest trace may inline (its data is
        that VM's closure record); None for any other value."""
        d = v.data if v.__class__ is GuestFn else None
        p = d.get("proto") if d.__class__ is dict else None
        return self.guest_proto(p) if p.__class__ is dict else None

    def protos_for(self, proto: Any) -> Any:
        """What the recorder inlines in a loop of proto: the functions of the engine that runs
        it. A host engine does not run a self-hosted VM's function (calling one is an error
        there), and the self-hosted VM runs only its own."""
        return self.guest_fn_proto if proto.__class__ is GuestProto else closure_proto

    def hot(self, key: tuple[Any, int], code: list[Any], end: int) -> bool:
        """Count a back edge of a loop without a trace; whether it is time to record it."""
        n = self.counts.get(key, 0) + 1
        self.counts[key] = n
        if n == 1 and not traceable(code, key[1], end):
            self.black.add(key)  # never counted again (not a blacklisting the statistics count)
        if n < self.settings["threshold"] or key in self.black:
            return False
        self.counts[key] = 0
        return True

    def guest_edge(self, p: dict[str, Any], header: int, end: int, glocs: list[Any], g: dict[str, Any],
                   room: int) -> Optional[tuple[int, list[Any]]]:
        """The self-hosted VM's hook (`__jit_enter`): back_edge for a guest function p, whose
        iterators become the host's while its trace runs (stage0/jit/guest.py)."""
        proto = self.guest_proto(p)
        if end >= len(proto.code) or len(glocs) != proto.nlocals:
            raise RuntimeErr(NOT_A_PROTO)
        key = (proto, header)
        t = self.traces.get(key)
        if t is None and not self.hot(key, proto.code, end):
            return None
        locs, iters = host_locals(glocs)
        if t is None:
            t = self.compile(key, proto, end, locs, g)
        r = None if t is None else self.run(key, t, locs, room)
        guest_locals(glocs, locs, iters)
        return r

    def fast_loop(self, vm: Any, clo: Any, d: int, header: int, end: int, exit_pc: int,
                  locs: list[Any], direct: bool = False, counter: str = "") -> "tuple[Any, ...] | bool | None":
        """The fast tier's hook (JitHooks.back_edge): a generated loop counted `threshold` back
        edges, or (direct) its loop has a trace and this is any back edge. Compile the trace if
        need be and run it; after each exit the reference loop (FastVM.resume_at) runs the
        frame to the header, and the trace is entered again, or to the loop's exit block, or to
        a return. Gives None (nothing ran), False (nothing ran: the recording met the loop's
        end, so try again at the next back edge), or (0, locals): carry on at the header,
        (1, locals): leave the loop, (2, locals, value): return value.

        A counting loop names its counter (a namespace global, which its code reads back): it
        is set to call again at the next back edge when the recording met the loop's end, or
        when the loop has a trace (the frame runs the code it had before the function was made
        again, and a long-running frame would otherwise enter its trace once per JT back
        edges); else to count from zero."""
        r = self._fast_loop(vm, clo, d, header, end, exit_pc, locs, direct)
        if counter:
            again = r is False or (clo.proto, header) in self.traces
            vm.ns[counter] = self.settings["threshold"] - 1 if again else 0
        return r

    def _fast_loop(self, vm: Any, clo: Any, d: int, header: int, end: int, exit_pc: int,
                   locs: list[Any], direct: bool) -> "tuple[Any, ...] | bool | None":
        """fast_loop without the counter."""
        key = (clo.proto, header)
        t = self.traces.get(key)
        if t is None:
            if key in self.black:
                self.settle(clo.proto)  # its code still counts: make it again without
                return None
            if direct:  # the trace was dropped: count again, as the counter would
                n = self.counts[key] = self.counts.get(key, 0) + 1
                if n < self.settings["threshold"]:
                    return None
                self.counts[key] = 0
            t = self.compile(key, clo.proto, end, locs, clo.module.globals)
            if t is not None or key in self.black:
                self.settle(clo.proto)
            if t is None:
                return False if self.last_abort == LOOP_ENDED else None
        stops = frozenset((header, exit_pc))
        room = vm.ns["MAX"] - d
        while t is not None:
            r = self.run(key, t, locs, room)
            if r is None:
                break
            pc, stack = r
            if pc == exit_pc and not stack:
                return 1, locs
            at, v = vm.resume_at(clo, d, locs, pc, stack, stops)
            if at is None:
                return 2, locs, v
            if at == exit_pc:
                return 1, locs
            t = self.traces.get(key)
        return 0, locs

    def run(self, key: tuple[Any, int], t: Trace, locs: list[Any], room: int) -> Optional[tuple[int, list[Any]]]:
        """Enter trace t until it leaves by an exit other than the budget; give where to resume."""
        stats = self.stats
        while True:
            r = t.enter(locs, room)
            t.entries += 1
            stats["entries"] += 1
            if r is None:
                self.deopt(key, t)
                return None
            pc, stack, e = r
            t.iterations += t.slots[t.desc["layout"]["count"]]
            x = t.desc["exits"][e]
            kind = x["kind"]
            if kind == "side" and x["site"][1:] in t.leaving:
                kind = "loop"
            stats["exits"][kind] += 1
            if kind == "side" or kind == "guard":
                self.deopt(key, t)
            if kind == "side":
                self.side_exit(key, t, x["site"], pc, stack, locs)
            if (t.entries >= HOT_ENTRIES or kind == "budget") and not t.optimised:
                self.optimise(t)
            if (t.entries == SHORT_ENTRIES and not t.desc["nested"]
                    and t.iterations * len(t.rec["ops"]) < self.short_ops * t.entries):
                self.unprofitable(key, t)
            if kind != "budget":
                return pc, stack

    def side_exit(self, key: tuple[Any, int], t: Trace, site: str, pc: int, stack: list[Any],
                  locs: list[Any]) -> None:
        """A branch left the loop's trace the other way. The second time at one op, record the
        path from there back to the header and recompile the trace with it in place of the exit
        (in the peel and in the loop: a site without its P or L names the op), so a loop whose
        branch goes both ways stays native."""
        at = site[1:]
        n = t.sides[at] = t.sides.get(at, 0) + 1
        if n != SIDE_HOT or at in t.bad or len(t.rec["sides"]) >= MAX_SIDES:
            return
        rec = t.rec
        try:
            side = record_side(t.code, rec["nlocals"], rec["header"], rec["end"], locs, self.settings["max_trace"],
                               pc, stack, t.scopes[0], self.protos_for(key[0]), rec["ctx"],
                               (t.scopes, rec["globals"]))
        except Abort as e:
            if e.reason == LOOP_ENDED:  # this way leaves the loop: its exits are loop exits
                t.leaving.add(at)
            else:
                t.bad.add(at)
                self.abort(key, None, "side path: " + e.reason)
            return
        known = {slot for slot, _ in rec["entry"]}
        entry = rec["entry"] + [[s, k] for s, v in enumerate(locs)
                                if s not in known and (k := kind_of(v)) is not None and k not in ("rng", "lit")]
        try:
            scopes = side.pop("scopes")
            t2 = self.build(dict(rec, sides=dict(rec["sides"], **{at: side["ops"]}), entry=entry,
                                 globals=side["globals"], ctx=side["ctx"]), scopes)
        except RuntimeErr as e:
            t.bad.add(at)
            self.abort(key, None, "side path: " + e.message)
            return
        t2.code, t2.bad, t2.leaving = t.code, t.bad, t.leaving
        if self.force_exit is not None:
            t2.slots[t2.desc["layout"]["force"]] = self.force_exit
        if self.traces.get(key) is t:
            self.traces[key] = t2
        self.compiled.append(t2.desc)
        self.stats["side_paths"] += 1

    def deopt(self, key: tuple[Any, int], t: Trace) -> None:
        """Count a deopt; at the limit, drop the trace (the header records again, or is blacklisted)."""
        self.stats["deopts"] += 1
        t.deopts += 1
        if t.deopts >= self.settings["deopt_limit"] and self.traces.get(key) is t:
            del self.traces[key]
            self.stats["dropped"] += 1
            if self.recordings.get(key, 0) >= MAX_RECORDINGS:
                self.blacklist(key)

    def unprofitable(self, key: tuple[Any, int], t: Trace) -> None:
        """A trace whose loop runs too few iterations an entry: the loop goes back to the engine
        for good (the fast tier makes the function again without a hook)."""
        if self.traces.get(key) is t:
            del self.traces[key]
        aborts = self.stats["aborts"]
        aborts[SHORT] = aborts.get(SHORT, 0) + 1
        self.blacklist(key)

    def blacklist(self, key: tuple[Any, int]) -> None:
        """Never record this header again in this process."""
        if key not in self.black:
            self.black.add(key)
            self.stats["blacklisted"] += 1

    # ---- compiling ----------------------------------------------------------------

    def compile(self, key: tuple[Any, int], proto: Any, end: int, locs: list[Any],
                g: Optional[dict[str, Any]]) -> Optional[Trace]:
        """Record, compile and install a trace for the loop at key; None when that failed (the
        reason goes to the statistics)."""
        if self.stats["traces"] >= MAX_TRACES:
            self.abort(key, proto, "the process has compiled its most traces")
            self.blacklist(key)
            return None
        try:
            rec = record(proto.code, proto.nlocals, key[1], end, locs, self.settings["max_trace"], g,
                         self.protos_for(proto))
            scopes = rec.pop("scopes")
        except Abort as e:
            self.abort(key, proto, e.reason)
            return None
        from stage0.host.mch import native_name

        rec.update(fn=proto.name, target=native_name() or "x86-64", debug=self.force_exit is not None, sides={},
                   generic=not self.settings["type_spec"])
        try:
            t = self.build(rec, scopes)
            t.code = proto.code
        except RuntimeErr as e:
            self.abort(key, proto, e.message)
            return None
        if self.force_exit is not None:
            t.slots[t.desc["layout"]["force"]] = self.force_exit
        self.traces[key] = t
        self.compiled.append(t.desc)
        self.recordings[key] = self.recordings.get(key, 0) + 1
        self.stats["traces"] += 1
        return t

    def build(self, rec: dict[str, Any], scopes: list[Any]) -> Trace:
        """The trace of a recording (scopes: what its globals are read from): from the disk cache
        when it holds the key (no jit.ilu, no LLVM compile), else compiled by jit.ilu and LLVM,
        and then stored there."""
        from stage0.host.mch import fingerprint, load_object, native_function

        key = trace_key(rec, fingerprint())
        hit = self.cache.load(key) if self.cache is not None else None
        if hit is not None and valid_desc(hit[0]["desc"]):
            header, obj = hit
            address = _ADDRESSES.get(header["fname"]) or load_object(obj, header["fname"])
            _ADDRESSES[header["fname"]] = address
            self.stats["cache_hits"] += 1
            t = Trace(key, header["desc"], address, optimised=header["fname"].endswith("_o2"), scopes=scopes)
        else:
            desc = _DESCS.get(key) or self.describe(rec, key)
            address, obj = native_function(desc["ir"], desc["fname"])
            if self.cache is not None:
                self.cache.store(key, desc["fname"], desc, obj)
            t = Trace(key, desc, address, scopes=scopes)
        t.rec = rec
        return t

    def describe(self, rec: dict[str, Any], key: str) -> dict[str, Any]:
        """jit.ilu's description of a recording (IR, exits, layout), kept for the process."""
        vm, compile_trace = _trace_compiler(None if self.cache is None else self.cache.folder)
        desc: dict[str, Any] = vm.call(compile_trace, [dict(rec, name="ilt_" + key[:16])])
        if len(_DESCS) >= MAX_DESCS:
            del _DESCS[next(iter(_DESCS))]
        _DESCS[key] = desc
        return desc

    def optimise(self, t: Trace) -> None:
        """Recompile a hot trace with LLVM's O2 pipeline, swap its glue's native function, and
        let the disk cache keep the better code."""
        from stage0.host.mch import native_function

        t.optimised = True
        try:
            address, obj = native_function(t.desc["ir"], t.desc["fname"], optimise=True)
        except RuntimeErr:
            return  # the cheap version keeps running
        t.enter, t.slots = make_glue(t.desc, address, t.slots[t.desc["layout"]["force"]], t.fns, t.scopes)
        self.stats["recompiled"] += 1
        if self.cache is not None:
            self.cache.store(t.key, t.desc["fname"] + "_o2", t.desc, obj)

    def abort(self, key: tuple[Any, int], proto: Any, reason: str) -> None:  # noqa: ARG002
        """A recording or compile failed: count the reason; blacklist a header that keeps failing.
        A loop that ended during its recorded iteration is not at fault (a short loop in a
        function called often is met near its end): it records again later, up to MAX_ENDED
        times (a loop that nearly always ends in its first iteration, left by `brk`, would
        otherwise be recorded at every entry)."""
        aborts = self.stats["aborts"]
        aborts[reason] = aborts.get(reason, 0) + 1
        self.last_abort = reason
        if reason == LOOP_ENDED:
            self.ended[key] = self.ended.get(key, 0) + 1
            if self.ended[key] < MAX_ENDED:
                self.counts[key] = self.settings["threshold"] - 1  # try again at the next back edge
                return
        n = self.aborted[key] = self.aborted.get(key, 0) + 1
        if n >= MAX_ABORTS:
            self.blacklist(key)
