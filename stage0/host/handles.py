"""The handle table each VM keeps for what a program opens: sockets, listeners, child processes.

A handle is a positive integer, never reused within a VM, so a stale handle
is an error and never reaches another program's socket. A handle of the
wrong kind or one never issued is misuse and raises; a closed one raises as
well, except for `close`, which may be called twice (spec §1.1).
"""
from __future__ import annotations

from typing import Any

from stage0.errors import RuntimeErr


class Handles:
    """Open host objects by number, each with its kind ("sock", "listener", "proc")."""

    def __init__(self) -> None:
        self.table: dict[int, tuple[str, Any]] = {}
        self.issued = 0

    def add(self, kind: str, obj: Any) -> int:
        """A new handle for obj."""
        self.issued += 1
        self.table[self.issued] = (kind, obj)
        return self.issued

    def get(self, name: str, h: Any, kind: str) -> Any:
        """The open object behind handle h, which must be of `kind`; misuse raises."""
        if type(h) is not int or h not in self.table or self.table[h][0] != kind:
            state = "closed or unknown" if type(h) is int and 0 < h <= self.issued else "not a"
            raise RuntimeErr(f"{name} expects an open {kind} handle, got {h!r} ({state})")
        return self.table[h][1]

    def drop(self, h: Any) -> Any:
        """Forget handle h; its object (or None when it was not open)."""
        entry = self.table.pop(h, None) if type(h) is int else None
        return entry[1] if entry else None

    def close_all(self) -> None:
        """Close every open object (the VM is done)."""
        for h in list(self.table):
            obj = self.drop(h)
            try:
                obj.close()
            except Exception:  # noqa: BLE001  (closing is best effort at exit)
                pass
