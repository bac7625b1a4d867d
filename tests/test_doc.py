"""`ilusm doc`, and the library's documentation checked against it: every public function of
every stdlib module has a `#` comment, and docs/stdlib.md names it in the module's section."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from stage0.toolchain.doc import doc_names, entries, find_module, render

ROOT = Path(__file__).resolve().parent.parent
STDLIB = sorted(p.stem for p in (ROOT / "lib" / "stdlib").glob("*.ilu"))
DOCS = (ROOT / "docs" / "stdlib.md").read_text(encoding="utf-8")


def section(module: str) -> str:
    """The part of docs/stdlib.md about one module (json is documented with jsn)."""
    name = "jsn" if module == "json" else module
    m = re.search(rf"^## `{name}`.*?(?=^## |\Z)", DOCS, re.M | re.S)
    assert m, f"docs/stdlib.md has no section for {module}"
    return m.group(0)


@pytest.mark.parametrize("module", STDLIB)
def test_every_public_function_is_commented_and_documented(module: str) -> None:
    _, found = entries(find_module(module))
    text = section(module)
    for e in found:
        if e.is_fn:
            assert e.comment, f"{module}.{e.name} has no # comment"
            assert re.search(rf"\b{re.escape(e.name)}\b", text), f"docs/stdlib.md does not name {module}.{e.name}"


def test_render_a_module_and_a_function() -> None:
    page = render("txt")
    assert page.startswith("txt (lib/stdlib/txt.ilu)\n\n    txt: string helpers")
    assert "  spl(s, sep)\n      spl(s, sep): the list of the parts" in page
    assert render("mth.pi") == "mth.pi = 3.141592653589793\n    (no comment)\n"
    assert doc_names("fs")[:3] == ["rd", "wr", "app"]


def test_the_command(tmp_path: Path) -> None:
    (tmp_path / "m.ilu").write_text("# m: a module.\n\n# f(x): doubles x.\nf(x) = x * 2\n_g() = 1\n")
    r = subprocess.run([sys.executable, "-m", "stage0", "doc", "m.ilu"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout == "m.ilu (m.ilu)\n\n    m: a module.\n\nFUNCTIONS\n  f(x)\n      f(x): doubles x.\n"
    r = subprocess.run([sys.executable, "-m", "stage0", "doc", "nosuch"], cwd=tmp_path, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "no module named 'nosuch'" in r.stderr
