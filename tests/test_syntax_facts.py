"""The syntax tree is described once (stage0/syntax.py) and generated for ilusm (lib/frontend/nodes.ilu).

The generated module is fresh; every node the ilusm parser builds has the
fields the description gives, in its order; no other module keeps its own
list of reserved words, statement kinds, child fields or binders.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from tool_util import load_tool

from stage0 import syntax
from stage0.seedc.lexer import KEYWORDS
from stage0.seedc.parser import parse

ROOT = Path(__file__).resolve().parent.parent
PRS = ROOT / "lib" / "frontend" / "prs.ilu"


def test_nodes_module_is_fresh() -> None:
    assert load_tool("gen_nodes").stale() == [], "run: python tools/gen_nodes.py"


def test_check_flag_reports_a_stale_module(tmp_path: Path) -> None:
    gen = load_tool("gen_nodes")
    (tmp_path / "lib" / "frontend").mkdir(parents=True)
    (tmp_path / gen.ILU_PATH).write_text("# old\n", encoding="utf-8")
    assert gen.stale(tmp_path) == ["lib/frontend/nodes.ilu"]
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_nodes.py"), "--bad"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "usage: python tools/gen_nodes.py [--check]" in run.stderr


def node_literals(tree: object) -> list[syntax.Obj]:
    """Every object literal in a tree whose first key is `t` (a node being built)."""
    found: list[syntax.Obj] = []

    def walk(n: object) -> None:
        if isinstance(n, list):
            for x in n:
                walk(x)
        elif isinstance(n, syntax.Node):
            if isinstance(n, syntax.Obj) and n.keys[:1] == ["t"]:
                found.append(n)
            for value in vars(n).values():
                walk(value)

    walk(tree)
    return found


def kinds_named(tag: syntax.Node) -> list[str]:
    """The kinds a `t:` value names: a string literal, or an `if` choosing between string literals."""
    if isinstance(tag, syntax.Str):
        return [tag.v]
    if isinstance(tag, syntax.If) and all(isinstance(b, syntax.Str) for b in [*tag.bodies, tag.els]):
        return [b.v for b in [*tag.bodies, tag.els]]  # type: ignore[union-attr]
    return []


def test_every_node_the_ilusm_parser_builds_matches_the_description() -> None:
    built = node_literals(parse(PRS.read_text(encoding="utf-8"), str(PRS)))
    kinds = set()
    for lit in built:
        named = kinds_named(lit.vals[0])
        assert named, f"prs.ilu:{lit.line}: name the node kind with a literal"
        for kind in named:
            assert kind in syntax.KINDS, f"prs.ilu:{lit.line} builds an unknown node kind {kind}"
            want = ["t", *(s.name for s in syntax.SLOTS[kind]), "line", "col"]
            assert lit.keys == want, f"prs.ilu:{lit.line}: {kind} built with {lit.keys}, described as {want}"
            kinds.add(kind)
    assert kinds == set(syntax.KINDS), f"never built by prs.ilu: {set(syntax.KINDS) - kinds}"


def test_each_kind_is_expression_statement_or_part() -> None:
    assert {c.kind for c in syntax.KINDS.values()} == {"expr", "stmt", "part"}
    assert syntax.STATEMENTS == {"Assign", "Def", "FnDef", "Ret", "Brk", "Cnt", "Whl", "For", "Use"}
    assert syntax.BINDERS == {"Assign", "Def", "FnDef", "For", "Use"}
    assert syntax.kids("If") == ["conds", "bodies", "els"] and "conds" in syntax.LIST_FIELDS


def test_the_lexer_reserves_the_described_words() -> None:
    assert KEYWORDS == set(syntax.KEYWORDS)


# What another module would hold if it kept its own copy of a fact of the description.
COPIES = [
    re.compile(r"\bif whl fn use ret\b"),                       # the reserved words as text
    re.compile(r"^_?(KEYWORDS|KIDS|LISTY|BINDERS|STATEMENTS)\s*=\s*[(\[{]", re.M),  # a table of them
    re.compile(r"\(A\.Assign, A\.Def, A\.FnDef"),               # statement kinds as a tuple
]


@pytest.mark.parametrize("path", sorted([*(ROOT / "lib").rglob("*.ilu"), *(ROOT / "stage0").rglob("*.py")]),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_keeps_its_own_copy(path: Path) -> None:
    if path.name in ("values.py", "nodes.ilu"):  # values.py holds the reserved words
        return
    text = path.read_text(encoding="utf-8")
    for pattern in COPIES:
        where = path.relative_to(ROOT)
        assert not pattern.search(text), f"{where} keeps a copy ({pattern.pattern}): use stage0/syntax.py"
