"""The layout holds: lib/ module names are unique, stage0/ has no import cycle, the kernel
stands alone, and the module-path facts are written once (stage0/paths.py)."""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest
from tool_util import load_tool

from stage0 import paths

ROOT = Path(__file__).resolve().parent.parent
STAGE0 = ROOT / "stage0"
KERNEL = {"stage0.isa", "stage0.errors", "stage0.values", "stage0.hints", "stage0.paths", "stage0.syntax"}


def test_lib_module_names_are_unique() -> None:
    # `use NAME` takes the first match along LIB_SUBDIRS: a second file of that name would be shadowed.
    stems = Counter(p.stem for p in (ROOT / "lib").rglob("*.ilu"))
    assert [s for s, n in stems.items() if n > 1] == []
    assert len(stems) > 5


def module_name(path: Path) -> str:
    """`stage0.fast.vm` for stage0/fast/vm.py (a package is its __init__)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every stage0 module `path` imports, anywhere in it (functions and TYPE_CHECKING blocks too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("stage0"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("stage0"))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the stage0 modules it imports (only names that are modules)."""
    mods = {module_name(p): p for p in STAGE0.rglob("*.py")}
    return {m: {d for d in imports_of(p) if d in mods and d != m} for m, p in mods.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(frozenset(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]


def test_no_import_cycles() -> None:
    # TYPE_CHECKING imports count too: a cycle for the type checker is still a cycle in the design
    assert cycles(import_graph()) == []


def test_the_kernel_imports_only_the_kernel() -> None:
    graph = import_graph()
    for mod in KERNEL:
        assert graph[mod] <= KERNEL, f"{mod} imports {graph[mod] - KERNEL}"


def test_module_path_facts_are_written_once() -> None:
    # The library folders, the toolchain's main module and the committed image's name live in paths.py.
    facts = [re.escape(f'"{paths.MAIN_MODULE}"'), r'"stdlib",\s*"backend"', r'"ilusm\.ilbc"']
    for p in [*STAGE0.rglob("*.py"), ROOT / "bootstrap.py", *(ROOT / "tools").glob("*.py")]:
        if p == STAGE0 / "paths.py":
            continue
        text = p.read_text(encoding="utf-8")
        for fact in facts:
            assert not re.search(fact, text), f"{p.relative_to(ROOT)} repeats {fact}"


def test_the_kernel_block_of_compile_pipeline_is_fresh() -> None:
    gen = load_tool("gen_kernel")
    assert gen.stale() == [], "run: python tools/gen_kernel.py"
    text = (ROOT / gen.ILU_PATH).read_text(encoding="utf-8")
    assert text.count("def LIB_SUBDIRS") == 1 and "\\u{FEFF}" not in text.split(gen.END)[1]


def test_the_committed_image_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    # Without it every run would compile lib/ with the seed compiler first (the same bytes, slowly).
    from stage0.seedc import driver
    from stage0.toolchain import selfhost

    def refuse(*_: object) -> None:
        raise AssertionError("compiled lib/ instead of reading ilusm.ilbc")

    monkeypatch.setattr(driver, "compile_tree", refuse)
    assert paths.COMMITTED_IMAGE.is_file()
    assert selfhost.toolchain_bytes() == paths.COMMITTED_IMAGE.read_bytes()
