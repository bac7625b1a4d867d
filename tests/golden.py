"""Golden files: tests/golden/*.ilu compiled by the seed compiler and dumped by `ilusm dis`
(`.dis`), tests/golden/audit/*.ilu reported by `ilusm audit` (`.audit`, and `.json` for
`--json`), and tests/golden/fmt/*.ilu laid out by `ilusm fmt` (`.fmt`).

`python tests/golden.py --promote` (or `make golden-promote`) rewrites the
golden files after an intended change; review the diff before committing.
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


def render_audit(path: Path, as_json: bool) -> str:
    """`ilusm audit` of one golden program (seed-compiled), as text or JSON; paths relative to
    its folder, as a user running it there would see them."""
    import os

    from stage0.image import ilbc
    from stage0.seedc.driver import compile_with_sources
    from stage0.toolchain.audit import audit, report_json, report_text

    old = os.getcwd()
    os.chdir(path.parent)
    try:
        image, _ = compile_with_sources(path.name)
        data = audit(ilbc.read(ilbc.write(image)))
    finally:
        os.chdir(old)
    return (report_json if as_json else report_text)(data, path.name)


def render_fmt(path: Path) -> str:
    """`ilusm fmt` of one golden program: its canonical layout."""
    from stage0.toolchain.fmt import layout

    return layout(path.read_text(encoding="utf-8"), path.name)


def cases() -> list[Path]:
    """Every golden program of the disassembly."""
    return sorted(HERE.glob("*.ilu"))


def audit_cases() -> list[Path]:
    """Every golden program of the audit."""
    return sorted((HERE / "audit").glob("*.ilu"))


def fmt_cases() -> list[Path]:
    """Every golden program of the formatter."""
    return sorted((HERE / "fmt").glob("*.ilu"))


def outputs() -> list[tuple[Path, str]]:
    """(golden file, what it should hold) for every golden file."""
    found = [(p.with_suffix(".dis"), render(p)) for p in cases()]
    for p in audit_cases():
        found += [(p.with_suffix(".audit"), render_audit(p, False)), (p.with_suffix(".json"), render_audit(p, True))]
    found += [(p.with_suffix(".fmt"), render_fmt(p)) for p in fmt_cases()]
    return found


def main() -> int:
    """With --promote, rewrite every golden file; otherwise report stale ones."""
    stale = 0
    for want, got in outputs():
        if "--promote" in sys.argv:
            want.write_text(got, encoding="utf-8")
        elif not want.exists() or want.read_text(encoding="utf-8") != got:
            print(f"stale: {want.name}")
            stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
