"""`ilusm audit FILE`: what each module of a program declares, uses and (with --run) exercises.

The audit reads a compiled image (`audit(image)`), never the source: a
module's declarations are the `# @requires` / `# @uses` lists both compilers
record, and its static uses are the capability-bearing host builtins named
by its code (a `SYSCALL`, a builtin read as a value), mapped to capabilities
through the builtin registry, plus what the modules it `use`s require ("via").
A static use that the module does not declare is a problem; a declared
capability never used is a warning. `report_text` and `report_json` print
the same data (`../shared/spec/stdlib.md` §3.8).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Optional

from stage0 import isa
from stage0.host import all_builtins
from stage0.host.caps import base_caps
from stage0.host.registry import DEFAULT_CAPS
from stage0.image.dis import owners
from stage0.image.model import Image
from stage0.image.verify import code_flow

UNCONFINED = {"proc": "children are outside layer 2 unless pledged",
              "ffi": "native code is outside layer 2; only a pledge's kernel layer holds it"}


@dataclass
class Use:
    """One capability a module needs: how (a builtin's name, or `use MOD`) and where first."""

    cap: str
    how: str
    site: str
    verdict: str = ""


@dataclass
class ModuleAudit:
    """One module's declarations, static uses and run-time uses."""

    key: str
    entry: bool
    requires: list[str]
    uses: list[str]
    static: list[Use] = field(default_factory=list)


def _line(image: Image, fi: int, offset: int) -> int:
    """The source line of the instruction at offset in function fi."""
    line = 0
    for off, ln in image.funcs[fi].lines:
        if off > offset:
            break
        line = ln
    return line


def _satisfied(cap: str, declared: list[str]) -> bool:
    """Whether a declared list covers cap (`fs` covers `fs:ro`)."""
    return cap in declared or (cap == "fs:ro" and "fs" in declared)


def static_uses(image: Image) -> list[list[Use]]:
    """Per module, the capabilities its code needs, first site each, in code order."""
    builtins = all_builtins()
    found: list[dict[str, Use]] = [{} for _ in image.modules]
    for fi, (f, mi) in enumerate(zip(image.funcs, owners(image))):
        if mi is None:
            continue
        file = image.names[image.modules[mi].file]
        for off, op, operands in code_flow(f, image).instrs:
            for role, v in zip(isa.BY_CODE[op].roles, operands):
                if role == "name":
                    b = builtins.get(image.names[v])
                    if b is not None and b.cap not in (None, "io"):
                        found[mi].setdefault(b.cap, Use(b.cap, b.name, f"{file}:{_line(image, fi, off)}"))
                elif role == "module":
                    for c in image.modules[v].requires:
                        cap = image.names[c]
                        used = f"via use {image.names[image.modules[v].name].rsplit('/', 1)[-1].removesuffix('.ilu')}"
                        found[mi].setdefault(cap, Use(cap, used, f"{file}:{_line(image, fi, off)}"))
    return [list(d.values()) for d in found]


def audit(image: Image, run_log: Optional[dict[str, tuple[str, str]]] = None) -> dict[str, Any]:
    """The audit of a compiled program: modules, the program's needs, problems and warnings.
    run_log (capability -> (builtin, "file:line")) adds what a run exercised."""
    mods: list[ModuleAudit] = []
    problems: list[str] = []
    warnings: list[str] = []
    for mi, (mod, uses) in enumerate(zip(image.modules, static_uses(image))):
        m = ModuleAudit(image.names[mod.name], mi == image.entry, [image.names[c] for c in mod.requires],
                        [image.names[c] for c in mod.uses], uses)
        for u in m.static:
            u.verdict = _verdict(u, m, problems)
        used = {u.cap for u in m.static} | ({"fs:ro"} if any(u.cap == "fs" for u in m.static) else set())
        for cap in m.requires + m.uses:
            if cap not in used and not (cap == "fs" and "fs:ro" in used):
                warnings.append(f"{m.key}: declared but unused: {cap}")
        mods.append(m)
    data = _summary(image, mods, problems, warnings)
    if run_log is not None:
        data["run"] = [vars(Use(cap, b, site)) for cap, (b, site) in sorted(run_log.items())]
    return data


def _verdict(u: Use, m: ModuleAudit, problems: list[str]) -> str:
    """ok, ok (@uses) or UNDECLARED (recorded as a problem)."""
    if _satisfied(u.cap, m.requires):
        return "ok"
    if _satisfied(u.cap, m.uses):
        return "ok (@uses)"
    problems.append(f"{u.site} uses {u.cap} ({u.how}) but the module does not declare it")
    return "UNDECLARED"


def _summary(image: Image, mods: list[ModuleAudit], problems: list[str], warnings: list[str]) -> dict[str, Any]:
    """The whole report as plain data (what --json prints)."""
    entry = mods[image.entry] if mods else None
    manifest = entry.requires if entry is not None and entry.requires else None
    needed = sorted({"io"} | {u.cap for m in mods for u in m.static})
    if manifest is not None:  # a module requiring more than the manifest grants cannot load
        for m in mods:
            for cap in m.requires:
                if not _satisfied(cap, manifest):
                    problems.append(f"{m.key} requires {cap}, which the program's manifest does not grant")
    shown = sorted(mods, key=lambda m: not m.entry)  # the entry first, then the image's (key) order
    return {
        "modules": [{"key": m.key, "entry": m.entry, "requires": m.requires, "uses": m.uses,
                     "static": [vars(u) for u in m.static]} for m in shown],
        "manifest": None if manifest is None else sorted({"io", *manifest}),
        "needed": needed,
        "default": sorted(base_caps(DEFAULT_CAPS)),
        "unconfined": [c for c in UNCONFINED if c in needed],
        "problems": problems,
        "warnings": warnings,
    }


def report_json(data: dict[str, Any], file: str) -> str:
    """The report as JSON, keys in a fixed order."""
    return json.dumps({"file": file, **data}, indent=2, ensure_ascii=False) + "\n"


def report_text(data: dict[str, Any], file: str) -> str:
    """The report as the table `../shared/spec/stdlib.md` §3.8 sketches."""
    out = [f"capability audit: {file} ({len(data['modules'])} modules)", ""]
    rows = [("module", "requires", "uses", "static use", "first site", "verdict")]
    for m in data["modules"]:
        name = m["key"] + (" (entry)" if m["entry"] else "")
        head = (name, ", ".join(m["requires"]) or "-", ", ".join(m["uses"]) or "-")
        uses = m["static"] or [{"cap": "-", "how": "", "site": "", "verdict": "ok"}]
        for i, u in enumerate(uses):
            rows.append((*(head if i == 0 else ("", "", "")), f"{u['cap']:<5} {u['how']}".rstrip(), u["site"],
                         u["verdict"]))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    out += [("  ".join(c.ljust(w) for c, w in zip(r, widths)) + "  " + r[5]).rstrip() for r in rows]
    out.append("")
    if "run" in data:
        ran = ", ".join(f"{u['cap']} ({u['how']}, {u['site']})" for u in data["run"]) or "none"
        out.append(f"used at run time:                   {ran}")
    manifest = ", ".join(data["manifest"]) if data["manifest"] else "none (the program runs with the granted set)"
    out.append(f"program manifest (entry @requires): {manifest}")
    out.append(f"needed (static):                    {', '.join(data['needed'])}")
    out.append(f"granted by default:                 {', '.join(data['default'])}      (ffi: not granted)")
    unconfined = ", ".join(f"{c} ({UNCONFINED[c]})" for c in data["unconfined"]) or "none"
    out.append(f"unconfined capabilities in use:     {unconfined}")
    for w in data["warnings"]:
        out.append(f"warning: {w}")
    if data.get("run_error"):
        out.append(f"the run ended with an error: {data['run_error']}")
    n = len(data["problems"])
    if n == 1:
        out.append(f"1 problem: {data['problems'][0]}")
    else:
        out.append(f"{n} problems" + "".join(f"\n  {p}" for p in data["problems"]))
    return "\n".join(out) + "\n"
