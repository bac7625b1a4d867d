"""The Pygments lexer (stage0/highlight.py): registered as a plugin, and every spec program,
library module and docs code block lexes without an error token."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from pygments.lexers import get_lexer_by_name
from pygments.token import Error, Keyword, Name, String

from stage0.highlight import IlusmLexer

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("tests/spec/**/*.ilu"), *ROOT.glob("lib/**/*.ilu")])


def test_the_plugin_is_registered() -> None:
    assert isinstance(get_lexer_by_name("ilusm"), IlusmLexer)
    r = subprocess.run([str(ROOT / ".venv" / "bin" / "pygmentize"), "-l", "ilusm", "-f", "raw"],
                       input="prn 1\n", capture_output=True, text=True, timeout=60)
    if r.returncode != 0 and "No such file" in r.stderr:
        pytest.skip("pygmentize is not installed in .venv")
    assert "Token.Name.Builtin\t'prn'" in r.stdout


def test_every_program_lexes_without_errors() -> None:
    lexer = IlusmLexer()
    for path in FILES:
        bad = [v for t, v in lexer.get_tokens(path.read_text(encoding="utf-8")) if t is Error]
        assert not bad, (path, bad[:5])
    assert len(FILES) > 500


def test_docs_code_blocks_are_fenced_as_ilusm_and_lex_without_errors() -> None:
    """The docs mark their ilusm code blocks ```ilusm, so renderers highlight them with this lexer."""
    lexer = IlusmLexer()
    count = 0
    for doc in [*(ROOT / "docs").glob("*.md"), ROOT / "README.md"]:
        for block in re.findall(r"```ilusm\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            assert not [v for t, v in lexer.get_tokens(block) if t is Error], (doc, block[:80])
            count += 1
    assert count > 35


def test_token_kinds() -> None:
    tokens = [(t, v) for t, v in IlusmLexer().get_tokens('x = $"n={f(1)}" # c\nwhl tru: brk\n') if v.strip()]
    assert (Keyword, "whl") in tokens and (Keyword.Constant, "tru") in tokens
    assert (Name.Function, "f") in tokens and (String.Interpol, "{") in tokens
