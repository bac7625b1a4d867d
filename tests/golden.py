"""Golden disassembly: tests/golden/*.ilu compiled by the seed compiler, dumped by `ilusm dis`.

`python tests/golden.py --promote` (or `make golden-promote`) rewrites the
.dis files after an intended change; review the diff before committing.
"""
from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(HERE.parent.parent))


def render(path: Path) -> str:
    """The disassembly of one golden program, with its source lines."""
    from stage0.image import ilbc
    from stage0.image.dis import disassemble
    from stage0.seedc.driver import compile_with_sources

    image, sources = compile_with_sources(path)
    return disassemble(ilbc.read(ilbc.write(image)), sources)


def cases() -> list[Path]:
    """Every golden program."""
    return sorted(HERE.glob("*.ilu"))


def main() -> int:
    """With --promote, rewrite every .dis; otherwise report stale ones."""
    stale = 0
    for path in cases():
        want, got = path.with_suffix(".dis"), render(path)
        if "--promote" in sys.argv:
            want.write_text(got, encoding="utf-8")
        elif not want.exists() or want.read_text(encoding="utf-8") != got:
            print(f"stale: {want.name}")
            stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
