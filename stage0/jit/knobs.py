"""The JIT's knobs and the shape of its statistics: what a program sets and reads through
`__jit_config` and `__jit_stats` (stage0/host/jit.py), without the JIT itself."""
from __future__ import annotations

from typing import Any

# Defaults of the knobs (seed 000): jit.set_threshold, set_max_trace, set_deopt_limit, enable_type_spec.
DEFAULTS = {"threshold": 1000, "max_trace": 4096, "deopt_limit": 10, "type_spec": True}
EXIT_KINDS = ("loop", "side", "guard", "budget")


def empty_stats() -> dict[str, Any]:
    """The JIT's counters before anything ran."""
    return {"traces": 0, "entries": 0, "exits": dict.fromkeys(EXIT_KINDS, 0), "deopts": 0, "dropped": 0,
            "blacklisted": 0, "recompiled": 0, "side_paths": 0, "aborts": {}, "cache_hits": 0}
