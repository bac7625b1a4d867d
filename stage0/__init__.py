"""stage0: the thin Python host of ilusm (ILBC loader, VM, seed compiler, CLI)."""

__version__ = "0.1.0"
