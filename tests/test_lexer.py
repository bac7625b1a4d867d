"""Tests of the seed lexer (stage0/seedc/lexer.py): tokens, layout, errors."""
from __future__ import annotations

import pytest

from stage0.errors import CompileError
from stage0.seedc.lexer import KEYWORDS, Token, dump_tokens, tokenize

LAYOUT = ("NEWLINE", "INDENT", "DEDENT", "EOF")


def toks(src: str) -> list[tuple[str, object]]:
    """(kind, value) of every token that is not a layout token."""
    return [(t.kind, t.value) for t in tokenize(src, "t.ilu") if t.kind not in LAYOUT]


def kinds(src: str) -> str:
    """Token kinds, layout included, separated by spaces (OP/KW show their text)."""
    out = []
    for t in tokenize(src, "t.ilu"):
        out.append(t.value if t.kind in ("OP", "KW") else t.kind)
    return " ".join(out)


def lex_error(src: str) -> tuple[int, int, str]:
    """(line, col, message) of the syntax error `src` raises."""
    with pytest.raises(CompileError) as info:
        tokenize(src, "t.ilu")
    e = info.value
    assert e.kind == "syntax error"
    return e.line, e.col, e.message


# ---- numbers ----------------------------------------------------------------

@pytest.mark.parametrize("src, value", [
    ("42", 42), ("0", 0), ("007", 7), ("0xFF", 255), ("0xff", 255), ("0X1f", 31),
    ("0b101", 5), ("0B11", 3), ("1_000_000", 1000000), ("0xF_F", 255), ("0b1_0", 2),
    ("123456789012345678901234567890", 123456789012345678901234567890),
])
def test_integer_literals(src: str, value: int) -> None:
    assert toks(src) == [("NUM", value)]
    assert type(toks(src)[0][1]) is int


@pytest.mark.parametrize("src, value", [
    ("3.14", 3.14), ("1e9", 1e9), ("2.5e-3", 2.5e-3), ("1E3", 1000.0), ("1e+2", 100.0),
    ("0.5", 0.5), ("1_0.2_5", 10.25), ("1.0", 1.0),
])
def test_float_literals(src: str, value: float) -> None:
    assert toks(src) == [("NUM", value)]
    assert type(toks(src)[0][1]) is float


@pytest.mark.parametrize("src, expected", [
    ("1..5", [("NUM", 1), ("OP", ".."), ("NUM", 5)]),
    ("1.5..2", [("NUM", 1.5), ("OP", ".."), ("NUM", 2)]),
    ("a..b", [("IDENT", "a"), ("OP", ".."), ("IDENT", "b")]),
    ("-1", [("OP", "-"), ("NUM", 1)]),
    ("x.y", [("IDENT", "x"), ("OP", "."), ("IDENT", "y")]),
    ("1.x", [("NUM", 1), ("OP", "."), ("IDENT", "x")]),
])
def test_number_boundaries(src: str, expected: list) -> None:
    assert toks(src) == expected


@pytest.mark.parametrize("src, col", [
    ("12ab", 1), ("0b102", 1), ("1_", 1), ("1__0", 1), ("1e", 1), ("0x", 1),
    ("x = 1.5e+", 5), ("0xFG", 1),
])
def test_invalid_number_literals(src: str, col: int) -> None:
    assert lex_error(src) == (1, col, "invalid number literal")


# ---- strings --------------------------------------------------------------------

@pytest.mark.parametrize("src, value", [
    ('"abc"', "abc"), ("'abc'", "abc"), ('""', ""), ("'say \"hi\"'", 'say "hi"'),
    (r'"a\nb"', "a\nb"), (r'"\t\r\0"', "\t\r\0"), (r'"\\"', "\\"), (r'"\""', '"'),
    (r"'\''", "'"), (r'"\{\}"', "{}"), (r'"{x}"', "{x}"), (r'"\u{41}"', "A"),
    (r'"\u{1F600}"', "\U0001F600"), (r'"\u{e9}"', "é"), ('"héllo"', "héllo"),
    ('"a # not a comment"', "a # not a comment"), ('"tab\tinside"', "tab\tinside"),
])
def test_string_literals(src: str, value: str) -> None:
    assert toks(src) == [("STR", value)]


@pytest.mark.parametrize("src, error", [
    (r'x = "a\qb"', (1, 7, "unknown escape '\\q'")),
    (r'"\x41"', (1, 2, "unknown escape '\\x'")),
    (r'"\u{110000}"', (1, 2, "invalid unicode escape")),
    (r'"\u{D800}"', (1, 2, "invalid unicode escape")),
    (r'"\u41"', (1, 2, "invalid unicode escape")),
    (r'"\u{}"', (1, 2, "invalid unicode escape")),
    (r'"\u{1234567}"', (1, 2, "invalid unicode escape")),
    ('x = "abc', (1, 5, "unterminated string")),
    ("x = 'abc\ny = 1", (1, 5, "newline in string")),
    ('prn "ab\\', (1, 5, "unterminated string")),
    ('$"a {x"', (1, 1, "unterminated string")),
])
def test_string_errors(src: str, error: tuple) -> None:
    assert lex_error(src) == error


# ---- interpolated strings ---------------------------------------------------------

@pytest.mark.parametrize("src, parts", [
    ('$"total: {a + b}!"', ["total: ", ("a + b", 1, 11), "!"]),
    ("$'{x}'", [("x", 1, 4)]),
    ('$""', []),
    ('$"plain"', ["plain"]),
    ('$"{a}{b}"', [("a", 1, 4), ("b", 1, 7)]),
    ('$"a {f("x")} {o["k"]} b"', ["a ", ('f("x")', 1, 6), " ", ('o["k"]', 1, 15), " b"]),
    ('$"{f("}")}"', [('f("}")', 1, 4)]),
    ('$"{ {a: 1}.a }"', [(" {a: 1}.a ", 1, 4)]),
    ('$"\\{x\\} {y}\\n"', ["{x} ", ("y", 1, 10), "\n"]),
    ('$"<{$"[{x}]"}>"', ["<", ('$"[{x}]"', 1, 5), ">"]),
    ('$"{$"{"}"}"}"', [('$"{"}"}"', 1, 4)]),
    ("$'{d[\"k\"]}'", [('d["k"]', 1, 4)]),
])
def test_interpolated_string_parts(src: str, parts: list) -> None:
    assert toks(src) == [("INTERP", parts)]


def test_interpolation_part_positions_are_absolute() -> None:
    t = tokenize('\n  x = $"v={v}"', "t.ilu")
    interp = [tok for tok in t if tok.kind == "INTERP"][0]
    assert (interp.line, interp.col) == (2, 7)
    assert interp.value == ["v=", ("v", 2, 12)]


@pytest.mark.parametrize("src, error", [
    ('$"a {} b"', (1, 5, "empty expression in interpolated string")),
    ('$"a {  } b"', (1, 5, "empty expression in interpolated string")),
    ('$"a } b"', (1, 5, "unmatched '}' in interpolated string (write \\})")),
    ('$"a {x} \\q"', (1, 9, "unknown escape '\\q'")),
    ('$"a {x b"', (1, 1, "unterminated string")),
    ('$"a {x}', (1, 1, "unterminated string")),
    ('$"a {"b}"', (1, 1, "unterminated string")),
])
def test_interpolation_errors(src: str, error: tuple) -> None:
    assert lex_error(src) == error


# ---- identifiers, reserved words, operators ----------------------------------------

@pytest.mark.parametrize("word", sorted(KEYWORDS))
def test_reserved_words(word: str) -> None:
    assert toks(word) == [("KW", word)]


def test_reserved_word_list_is_the_contracts() -> None:
    assert KEYWORDS == set("if whl fn use ret mat tru fls nil and or not brk cnt def".split())


@pytest.mark.parametrize("word", ["x", "_", "_x1", "iff", "prn", "try", "err", "Nil", "TRU", "a_b_c", "if2"])
def test_identifiers(word: str) -> None:
    assert toks(word) == [("IDENT", word)]


ALL_OPS = ["(", ")", "[", "]", "{", "}", ",", ":", ".", "?.", "?[", "=", "+=", "-=", "*=",
           "/=", "%=", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "!", "\\",
           "|", "|>", "=>", "<-", ".."]


@pytest.mark.parametrize("op", ALL_OPS)
def test_each_operator(op: str) -> None:
    # Brackets need their partner to be balanced; the partner is not checked here.
    src = {"(": "( )", "[": "[ ]", "{": "{ }", "?[": "?[ ]", ")": "( )", "]": "[ ]", "}": "{ }"}.get(op, op)
    assert ("OP", op) in toks(src)


@pytest.mark.parametrize("src, expected", [
    ("x<-1", ["x", "<-", "1"]),
    ("x< -1", ["x", "<", "-", "1"]),
    ("a|>f", ["a", "|>", "f"]),
    ("a||b", ["a", "|", "|", "b"]),
    ("a?.b?[0]", ["a", "?.", "b", "?[", "0", "]"]),
    ("x==y", ["x", "==", "y"]),
    ("x=>y", ["x", "=>", "y"]),
    ("x=-1", ["x", "=", "-", "1"]),
    ("x-=1", ["x", "-=", "1"]),
    ("!=!", ["!=", "!"]),
    ("...", ["..", "."]),
    ("\\(x)x", ["\\", "(", "x", ")", "x"]),
])
def test_maximal_munch(src: str, expected: list) -> None:
    assert [str(v) for _, v in toks(src)] == expected


@pytest.mark.parametrize("src, error", [
    ("x = 1 ; y", (1, 7, "unexpected character ';'")),
    ("a ? b", (1, 3, "unexpected character '?'")),
    ("$x", (1, 1, "unexpected character '$'")),
    ("x @ y", (1, 3, "unexpected character '@'")),
    ("café = 1", (1, 4, "unexpected character U+00E9")),
    ("x = 1\ry", (1, 6, "unexpected character U+000D")),
    ("x = \u00a01", (1, 5, "unexpected character U+00A0")),
    ("`x`", (1, 1, "unexpected character '`'")),
])
def test_unexpected_characters(src: str, error: tuple) -> None:
    assert lex_error(src) == error


# ---- comments, newlines, indentation ---------------------------------------------------

@pytest.mark.parametrize("src, expected", [
    ("x", "IDENT NEWLINE EOF"),
    ("", "EOF"),
    ("\n\n", "EOF"),
    ("# only a comment\n", "EOF"),
    ("x # comment", "IDENT NEWLINE EOF"),
    ("x\ny\n", "IDENT NEWLINE IDENT NEWLINE EOF"),
    ("x\n\n   \n# c\n    # indented comment\ny", "IDENT NEWLINE IDENT NEWLINE EOF"),
    ("a:\n    b\nc", "IDENT : NEWLINE INDENT IDENT NEWLINE DEDENT IDENT NEWLINE EOF"),
    ("a:\n  b:\n    c\nd",
     "IDENT : NEWLINE INDENT IDENT : NEWLINE INDENT IDENT NEWLINE DEDENT DEDENT IDENT NEWLINE EOF"),
    ("a:\n  b:\n    c", "IDENT : NEWLINE INDENT IDENT : NEWLINE INDENT IDENT NEWLINE DEDENT DEDENT EOF"),
    ("a:\n  b:\n    c\n  d",
     "IDENT : NEWLINE INDENT IDENT : NEWLINE INDENT IDENT NEWLINE DEDENT IDENT NEWLINE DEDENT EOF"),
    ("a:\n    b\n\n    # c\n    d", "IDENT : NEWLINE INDENT IDENT NEWLINE IDENT NEWLINE DEDENT EOF"),
    ("f(1,\n  2)\nx", "IDENT ( NUM , NUM ) NEWLINE IDENT NEWLINE EOF"),
    ("x = [\n1,\n        2,\n]\ny", "IDENT = [ NUM , NUM , ] NEWLINE IDENT NEWLINE EOF"),
    ("o = {\n  a: 1, # comment\n\n  b: 2}", "IDENT = { IDENT : NUM , IDENT : NUM } NEWLINE EOF"),
    ("f(\n\tx)", "IDENT ( IDENT ) NEWLINE EOF"),
    ("a:\n    f(1,\n2)\n    b", "IDENT : NEWLINE INDENT IDENT ( NUM , NUM ) NEWLINE IDENT NEWLINE DEDENT EOF"),
    ("x\t=\t1", "IDENT = NUM NEWLINE EOF"),
    ("x\r\ny\r\n", "IDENT NEWLINE IDENT NEWLINE EOF"),
    ("a:\r\n    b\r\n", "IDENT : NEWLINE INDENT IDENT NEWLINE DEDENT EOF"),
    ("\t\n# x\n\t# comment after a tab\nx", "IDENT NEWLINE EOF"),
])
def test_layout(src: str, expected: str) -> None:
    assert kinds(src) == expected


@pytest.mark.parametrize("src, error", [
    ("a:\n\tb", (2, 1, "tab in indentation")),
    ("a:\n    \tb", (2, 5, "tab in indentation")),
    ("a:\n    b\n  c", (3, 3, "dedent does not match any outer indentation level")),
    ("a:\n  b:\n      c\n    d", (4, 5, "dedent does not match any outer indentation level")),
    ("f(1,\n  2", (1, 2, "unclosed '('")),
    ("x = [1, {a: (2", (1, 13, "unclosed '('")),
    ("x = 1)", (1, 6, "unexpected ')'")),
    ("}", (1, 1, "unexpected '}'")),
    ("f([1, 2)", (1, 8, "')' does not match '['")),
    ("o?[1)", (1, 5, "')' does not match '?['")),
])
def test_layout_errors(src: str, error: tuple) -> None:
    assert lex_error(src) == error


def test_error_carries_the_source_line() -> None:
    with pytest.raises(CompileError) as info:
        tokenize("x = 1\ny = 'oops\n", "f.ilu")
    assert info.value.render() == "f.ilu:2:5: syntax error: newline in string\n    y = 'oops\n        ^"


# ---- positions and spacing ------------------------------------------------------------

def test_positions_and_layout_tokens() -> None:
    src = "f(x) =\n    y = x  # c\n    y\nprn f(1)\n"
    assert dump_tokens(tokenize(src, "t.ilu")) == "\n".join([
        "1:1 IDENT f", "1:2 OP (", "1:3 IDENT x", "1:4 OP )", "1:6 OP =", "1:7 NEWLINE",
        "2:5 INDENT", "2:5 IDENT y", "2:7 OP =", "2:9 IDENT x", "2:15 NEWLINE",
        "3:5 IDENT y", "3:6 NEWLINE",
        "4:1 DEDENT", "4:1 IDENT prn", "4:5 IDENT f", "4:6 OP (", "4:7 NUM 1", "4:8 OP )",
        "4:9 NEWLINE", "5:1 EOF",
    ])


def test_dedents_at_end_of_file_without_final_newline() -> None:
    assert dump_tokens(tokenize("a:\n  b", "t.ilu")).splitlines()[-4:] == [
        "2:3 IDENT b", "2:4 NEWLINE", "2:4 DEDENT", "2:4 EOF"]


def test_dump_of_values() -> None:
    src = "x = \"a\\n\\\"q\\\"\" 2.0 1e20 $\"n={n}\\t\" \"\\u{1}\""
    assert dump_tokens(tokenize(src, "t.ilu")).splitlines()[2:-2] == [
        '1:5 STR "a\\n\\"q\\""',
        "1:16 NUM 2.0",
        "1:20 NUM 1e+20",
        '1:25 INTERP "n=" {n} "\\t"',
        '1:36 STR "\\u{1}"',
    ]


@pytest.mark.parametrize("src, index, before, after", [
    ("f(x)", 1, False, False),
    ("f (x)", 1, True, False),
    ("prn -1", 1, True, False),
    ("a - 1", 1, True, True),
    ("a -1", 1, True, False),
    ("a- 1", 1, False, True),
    ("x", 0, True, True),
    ("  x", 0, True, True),
    ("f(x)", 3, False, True),
    ("xs[0]", 1, False, False),
    ("prn [1]", 1, True, False),
    ("a\t[1]", 1, True, False),
])
def test_space_before_and_after(src: str, index: int, before: bool, after: bool) -> None:
    t = [tok for tok in tokenize(src, "t.ilu") if tok.kind not in LAYOUT][index]
    assert (t.space_before, t.space_after) == (before, after)


def test_token_fields() -> None:
    t = tokenize("  foo", "t.ilu")[1]
    assert t == Token("IDENT", "foo", 1, 3, True, True)
