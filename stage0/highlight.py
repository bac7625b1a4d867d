"""A Pygments lexer for ilusm, registered as the plugin `ilusm` (`pygmentize -l ilusm prog.ilu`).

Its reserved words and operators are the seed lexer's (values.RESERVED,
seedc/lexer.py OPS2 and OPS1), its builtins the registry's names of
language.md §8, so the highlighter cannot drift from the language. Strings
with `$` are interpolated: the parts in braces are lexed as code.
tests/test_highlight.py lexes every spec program without an error token.
"""
from __future__ import annotations

import re

from pygments.lexer import RegexLexer, bygroups, include, words
from pygments.token import Comment, Keyword, Name, Number, Operator, Punctuation, String, Text, Whitespace

from stage0.seedc.lexer import OPS1, OPS2
from stage0.values import RESERVED

CONSTANTS = ("tru", "fls", "nil")
BUILTINS = ("prn", "len", "str", "int", "num", "typ", "try", "err", "asr", "keys", "push", "pop", "has")
_OPERATORS = sorted(OPS2 | {c for c in OPS1 if c not in "()[]{},:"}, key=lambda o: (-len(o), o))


class IlusmLexer(RegexLexer):
    """ilusm source (.ilu)."""

    name = "ilusm"
    aliases = ["ilusm", "ilu"]
    filenames = ["*.ilu"]
    mimetypes = ["text/x-ilusm"]
    flags = re.MULTILINE

    tokens = {
        "root": [
            (r"[ \t]+", Whitespace),
            (r"\r?\n", Whitespace),
            (r"#.*?$", Comment.Single),
            (r"\$\"", String.Double, "interp_double"),
            (r"\$'", String.Single, "interp_single"),
            (r'"', String.Double, "double"),
            (r"'", String.Single, "single"),
            (r"0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+", Number.Integer),
            (r"(\d[\d_]*\.\d[\d_]*|\d[\d_]*)([eE][+-]?\d+)?", Number),
            (words(CONSTANTS, suffix=r"\b"), Keyword.Constant),
            (words(tuple(sorted(set(RESERVED) - set(CONSTANTS))), suffix=r"\b"), Keyword),
            (words(BUILTINS, suffix=r"\b"), Name.Builtin),
            (r"(__[A-Za-z0-9_]+)", Name.Builtin.Pseudo),
            (r"([A-Za-z_]\w*)(\s*)(\()", bygroups(Name.Function, Text, Punctuation)),
            (r"[A-Za-z_]\w*", Name),
            (words(tuple(_OPERATORS)), Operator),
            (r"[()\[\]{},:]", Punctuation),
            (r".", Text),  # anything else is the compiler's to reject, not the highlighter's
        ],
        "escape": [(r"\\(u\{[0-9a-fA-F]+\}|.)", String.Escape)],
        "double": [include("escape"), (r'"', String.Double, "#pop"), (r'[^"\\\n]+', String.Double),
                   (r"\n", String.Double, "#pop")],
        "single": [include("escape"), (r"'", String.Single, "#pop"), (r"[^'\\\n]+", String.Single),
                   (r"\n", String.Single, "#pop")],
        "interp_double": [include("escape"), (r'"', String.Double, "#pop"), (r"\{", String.Interpol, "code"),
                          (r'[^"\\{\n]+', String.Double), (r"\n", String.Double, "#pop")],
        "interp_single": [include("escape"), (r"'", String.Single, "#pop"), (r"\{", String.Interpol, "code"),
                          (r"[^'\\{\n]+", String.Single), (r"\n", String.Single, "#pop")],
        "code": [(r"\}", String.Interpol, "#pop"), (r"\{", Punctuation, "code"), include("root")],
    }
