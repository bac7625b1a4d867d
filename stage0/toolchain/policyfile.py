"""`ilusm run --policy FILE`: a JSON policy file decides the program's capabilities before it starts.

The decision is `lib/stdlib/pol.ilu`'s, not a second implementation here:
the file is read and decoded by the host, then `pol.check` and `pol.caps`
run on a small VM with the context `{mod: the entry file's name}`. The
result can only narrow what the command line grants, and the file's
`fs_root` (relative to the policy file's folder) can only move the file
root deeper. When ILUSM_POLICY_KEY is set, the file must carry a valid
`seal` under that key (`pol.sealed`), else the run is refused.
"""
from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

from stage0.errors import RuntimeErr, UsageError
from stage0.host.caps import Policy, beneath, narrow, parse_caps
from stage0.host.registry import grant


@functools.lru_cache(maxsize=1)
def _pol() -> tuple[Any, dict[str, Any]]:
    """A VM running lib/stdlib/pol.ilu (seed-compiled once per process), and its module object."""
    from stage0.interp.vm import VM
    from stage0.paths import lib_root
    from stage0.seedc.driver import compile_file

    vm = VM(compile_file(lib_root() / "stdlib" / "pol.ilu"), caps=frozenset())
    return vm, vm.run_main()


def _call(name: str, *args: Any) -> Any:
    """pol.NAME(*args); a raised error becomes a usage error about the policy."""
    vm, pol = _pol()
    try:
        return vm.call(pol[name], list(args))
    except RuntimeErr as e:
        raise UsageError(f"--policy: {e.message}") from None


def apply(base: Policy, file: str, entry: str) -> Policy:
    """base narrowed by the policy in file for the program entry."""
    try:
        doc = json.loads(Path(file).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"--policy: cannot read {file}: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"--policy: {file} is not JSON: {e}") from None
    _call("check", doc)
    key = os.environ.get("ILUSM_POLICY_KEY")
    if key and not _call("sealed", doc, key):
        raise UsageError(f"--policy: {file} is not sealed with ILUSM_POLICY_KEY (its seal is missing or wrong)")
    mod = Path(entry).name.removesuffix(".ilu")
    caps = parse_caps(",".join(_call("caps", doc, {"mod": mod})), "--policy")
    root = base.fs_root
    if isinstance(doc.get("fs_root"), str):
        wanted = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(file)), doc["fs_root"]))
        if root is not None and not beneath(wanted, root):
            raise UsageError(f"--policy: fs_root {wanted} lies outside the file root {root}")
        root = wanted
    return Policy(grant(narrow(base.caps, caps)), root, base.pledge)
