"""Lexer of the seed compiler: ilusm source text to a list of tokens.

`tokenize` turns a whole source file into tokens (contract §1): NUM, STR,
INTERP, IDENT, KW, OP, and the layout tokens NEWLINE, INDENT, DEDENT, EOF.
`dump_tokens` prints them, one per line, for `ilusm --dump-tokens`.

No token spans two lines (a raw newline in a string is an error), so the
source is scanned one physical line at a time. Layout rules:

- A logical line ends with NEWLINE, unless a bracket `( [ { ?[` is still
  open: newlines and indentation inside brackets are ignored.
- Blank and comment-only lines produce nothing.
- At the start of a logical line the indentation (spaces only) is compared
  with the stack of open levels: deeper gives INDENT, shallower gives one
  DEDENT per level closed and must land exactly on an enclosing level.
- At the end of the file: NEWLINE if a line is pending, DEDENT for every
  open level, then EOF.

Brackets are matched here, so the parser never sees an unbalanced one.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NoReturn, Union

from stage0.errors import CompileError
from stage0.syntax import KEYWORDS as _RESERVED
from stage0.values import dump_num, quote

KEYWORDS = frozenset(_RESERVED)

# Two-character operators are tried first (maximal munch), so `x<-1` is `x <- 1`.
OPS2 = frozenset(["?.", "?[", "+=", "-=", "*=", "/=", "%=", "==", "!=", "<=", ">=",
                  "|>", "=>", "<-", ".."])
OPS1 = frozenset("()[]{},:.=<>+-*/%!\\|")
OPENERS = {"(": ")", "[": "]", "{": "}", "?[": "]"}
CLOSERS = frozenset(")]}")

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\",
           '"': '"', "'": "'", "{": "{", "}": "}"}

_DIGITS = r"[0-9](?:_?[0-9])*"
_NUMBER = re.compile(
    r"0[xX][0-9A-Fa-f](?:_?[0-9A-Fa-f])*"
    r"|0[bB][01](?:_?[01])*"
    rf"|{_DIGITS}(?:\.{_DIGITS})?(?:[eE][+-]?{_DIGITS})?")
_UNICODE = re.compile(r"\{([0-9A-Fa-f]{1,6})\}")
_WORD_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")

InterpPart = Union[str, tuple[str, int, int]]


@dataclass
class Token:
    """One token: kind, value, 1-based position, and the whitespace around it.

    value: int/float for NUM, the decoded text for STR, a list of parts for
    INTERP (str pieces and (expression text, line, col) triples), the text
    for IDENT, KW and OP, and None for NEWLINE, INDENT, DEDENT and EOF.
    space_before / space_after: whitespace, a line start or a line end is
    next to the token; the parser needs them for postfix `(` `[` and for
    shorthand calls.
    """

    kind: str
    value: Any
    line: int
    col: int
    space_before: bool = True
    space_after: bool = True


def tokenize(source: str, file: str) -> list[Token]:
    """Split `source` into tokens; raises CompileError on a lexical error."""
    return _Lexer(source, file).run()


def dump_tokens(tokens: list[Token]) -> str:
    """One token per line: `LINE:COL KIND VALUE` (no VALUE for layout tokens).

    NUM values print as `values.dump_num` (floats keep `.0`), STR values
    double-quoted with the language's escapes, INTERP values as their parts
    separated by spaces: quoted pieces and `{expression text}`.
    """
    return "\n".join(_dump_one(t) for t in tokens)


def _dump_one(t: Token) -> str:
    """The dump line of one token."""
    head = f"{t.line}:{t.col} {t.kind}"
    if t.value is None:
        return head
    if t.kind == "NUM":
        return f"{head} {dump_num(t.value)}"
    if t.kind == "STR":
        return f"{head} {quote(t.value)}"
    if t.kind == "INTERP":
        parts = [quote(p) if isinstance(p, str) else "{" + p[0] + "}" for p in t.value]
        return f"{head} {' '.join(parts)}"
    return f"{head} {t.value}"



class _Lexer:
    """The state of one tokenize() call."""

    def __init__(self, source: str, file: str) -> None:
        self.file = file
        # `\r\n` ends a line like `\n`; a lone `\r` stays and is rejected.
        self.lines = source.replace("\r\n", "\n").split("\n")
        self.tokens: list[Token] = []
        self.indents = [0]
        self.brackets: list[Token] = []
        self.pending = False  # a logical line has tokens and no NEWLINE yet

    def error(self, message: str, line: int, col: int) -> NoReturn:
        """Raise a syntax error at (line, col)."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        raise CompileError(message, self.file, line, col, text)

    def run(self) -> list[Token]:
        """Scan every line, then close the file."""
        for number, text in enumerate(self.lines, start=1):
            self.scan_line(number, text)
        self.finish()
        return self.tokens

    def scan_line(self, number: int, text: str) -> None:
        """Tokens of one physical line, with the layout tokens it implies."""
        stripped = text.lstrip(" \t")
        if not self.brackets:
            if stripped == "" or stripped.startswith("#"):
                return
            self.indentation(number, text)
        i = len(text) - len(stripped)
        while i < len(text):
            i = self.scan_token(number, text, i)
        if not self.brackets and self.pending:
            self.layout("NEWLINE", number, len(text) + 1)
            self.pending = False

    def layout(self, kind: str, line: int, col: int) -> None:
        """Append a NEWLINE, INDENT, DEDENT or EOF token."""
        self.tokens.append(Token(kind, None, line, col))

    def indentation(self, number: int, text: str) -> None:
        """INDENT or DEDENTs for a line that starts a logical line."""
        width = len(text) - len(text.lstrip(" \t"))
        if "\t" in text[:width]:
            self.error("tab in indentation", number, text.index("\t") + 1)
        if width > self.indents[-1]:
            self.indents.append(width)
            self.layout("INDENT", number, width + 1)
            return
        while width < self.indents[-1]:
            self.indents.pop()
            self.layout("DEDENT", number, width + 1)
        if width != self.indents[-1]:
            self.error("dedent does not match any outer indentation level", number, width + 1)

    def finish(self) -> None:
        """NEWLINE, DEDENTs and EOF at the end of the file."""
        line, col = len(self.lines), len(self.lines[-1]) + 1
        if self.brackets:
            t = self.brackets[-1]
            self.error(f"unclosed '{t.value}'", t.line, t.col)
        if self.pending:
            self.layout("NEWLINE", line, col)
        for _ in self.indents[1:]:
            self.layout("DEDENT", line, col)
        self.layout("EOF", line, col)

    def scan_token(self, number: int, text: str, i: int) -> int:
        """Scan the token (or whitespace, or comment) at text[i]; return where it ends."""
        ch = text[i]
        if ch in " \t":
            return i + 1
        if ch == "#":
            return len(text)  # a comment runs to the end of the line
        if ch.isascii() and ch.isdigit():
            end, kind, value = self.number(number, text, i)
        elif ch in _WORD_CHARS:
            end, kind, value = self.word(text, i)
        elif ch in "\"'":
            end, kind, value = self.string(number, text, i)
        elif ch == "$" and text[i + 1:i + 2] in ('"', "'"):
            end, kind, value = self.interp(number, text, i)
        else:
            end, kind, value = self.operator(number, text, i)
        self.emit(kind, value, number, text, i, end)
        return end

    def emit(self, kind: str, value: object, number: int, text: str, start: int, end: int) -> None:
        """Append a token spanning text[start:end]."""
        before = start == 0 or text[start - 1] in " \t"
        after = end == len(text) or text[end] in " \t"
        self.tokens.append(Token(kind, value, number, start + 1, before, after))
        self.pending = True

    def word(self, text: str, i: int) -> tuple[int, str, object]:
        """An identifier or a reserved word."""
        end = i
        while end < len(text) and text[end] in _WORD_CHARS:
            end += 1
        name = text[i:end]
        return end, ("KW" if name in KEYWORDS else "IDENT"), name

    def number(self, number: int, text: str, i: int) -> tuple[int, str, object]:
        """A number literal: 42 0xFF 0b101 1_000 3.14 1e9 2.5e-3."""
        m = _NUMBER.match(text, i)
        assert m is not None  # text[i] is a digit, which the pattern always matches
        end = m.end()
        # `12ab`, `0b102`, `1_` and `1e` are one bad literal, not two tokens.
        if end < len(text) and text[end] in _WORD_CHARS:
            self.error("invalid number literal", number, i + 1)
        digits = m.group().replace("_", "")
        if digits[:2] in ("0x", "0X"):
            return end, "NUM", int(digits[2:], 16)
        if digits[:2] in ("0b", "0B"):
            return end, "NUM", int(digits[2:], 2)
        if any(c in digits for c in ".eE"):
            return end, "NUM", float(digits)
        return end, "NUM", int(digits)

    def operator(self, number: int, text: str, i: int) -> tuple[int, str, object]:
        """Punctuation; also keeps the bracket stack."""
        op = text[i:i + 2]
        if op not in OPS2:
            op = text[i]
            if op not in OPS1:
                self.error(f"unexpected character {_show_char(op)}", number, i + 1)
        if op in OPENERS:
            self.brackets.append(Token("OP", op, number, i + 1))
        elif op in CLOSERS:
            self.close_bracket(op, number, i + 1)
        return i + len(op), "OP", op

    def close_bracket(self, op: str, number: int, col: int) -> None:
        """Pop the bracket `op` closes; a stray or mismatched closer is an error."""
        if not self.brackets:
            self.error(f"unexpected '{op}'", number, col)
        opener = self.brackets.pop()
        if OPENERS[opener.value] != op:
            self.error(f"'{op}' does not match '{opener.value}'", number, col)

    def string(self, number: int, text: str, i: int) -> tuple[int, str, object]:
        """A quoted string with its escapes applied."""
        quote_char, j = text[i], i + 1
        out: list[str] = []
        while True:
            if j >= len(text):
                self.unterminated(number, i)
            ch = text[j]
            if ch == quote_char:
                return j + 1, "STR", "".join(out)
            if ch == "\\":
                decoded, j = self.escape(number, text, i, j)
                out.append(decoded)
            else:
                out.append(ch)
                j += 1

    def unterminated(self, number: int, start: int) -> NoReturn:
        """The string at `start` reaches the end of its line."""
        if number < len(self.lines):
            self.error("newline in string", number, start + 1)
        self.error("unterminated string", number, start + 1)

    def escape(self, number: int, text: str, start: int, j: int) -> tuple[str, int]:
        """Decode the escape at text[j] (a backslash) of the string at `start`."""
        if j + 1 >= len(text):
            self.unterminated(number, start)
        code = text[j + 1]
        if code in ESCAPES:
            return ESCAPES[code], j + 2
        if code == "u":
            m = _UNICODE.match(text, j + 2)
            value = int(m.group(1), 16) if m else -1
            # Surrogates are not characters: they cannot be printed as UTF-8.
            if m is None or value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                self.error("invalid unicode escape", number, j + 1)
            return chr(value), m.end()
        self.error(f"unknown escape '\\{code}'", number, j + 1)

    def interp(self, number: int, text: str, i: int) -> tuple[int, str, object]:
        """`$"...{expr}..."`: literal pieces and (expression text, line, col) parts."""
        quote_char, j = text[i + 1], i + 2
        parts: list[InterpPart] = []
        piece: list[str] = []
        while True:
            if j >= len(text):
                self.unterminated(number, i)
            ch = text[j]
            if ch == quote_char:
                break
            if ch == "\\":
                decoded, j = self.escape(number, text, i, j)
                piece.append(decoded)
            elif ch == "{":
                if piece:
                    parts.append("".join(piece))
                    piece = []
                j = self.interp_code(number, text, i, j, parts)
            elif ch == "}":
                self.error("unmatched '}' in interpolated string (write \\})", number, j + 1)
            else:
                piece.append(ch)
                j += 1
        if piece:
            parts.append("".join(piece))
        return j + 1, "INTERP", parts

    def interp_code(self, number: int, text: str, start: int, j: int, parts: list[InterpPart]) -> int:
        """Add the code of the `{...}` at text[j] to parts; return the index after `}`."""
        end = _skip_code(text, j + 1)
        if end < 0:
            self.unterminated(number, start)
        code = text[j + 1:end]
        if code.strip() == "":
            self.error("empty expression in interpolated string", number, j + 1)
        parts.append((code, number, j + 2))
        return end + 1


def _skip_code(text: str, j: int) -> int:
    """Index of the `}` that ends the code starting at text[j], or -1.

    Nested brackets and string literals (plain or interpolated) are skipped
    whole, so `{f("}")}` and `{o["k"]}` end at the right brace.
    """
    depth = 0
    while 0 <= j < len(text):  # j < 0: an unterminated nested string
        ch = text[j]
        if ch in "\"'":
            j = _skip_string(text, j, interp=False)
        elif ch == "$" and text[j + 1:j + 2] in ('"', "'"):
            j = _skip_string(text, j + 1, interp=True)
        elif ch == "}" and depth == 0:
            return j
        else:
            if ch in "([{":
                depth += 1
            elif ch in ")]}" and depth > 0:
                depth -= 1
            j += 1
    return -1


def _skip_string(text: str, j: int, interp: bool) -> int:
    """Index after the string literal whose opening quote is text[j], or -1.

    In an interpolated string, code in braces is skipped with _skip_code so
    quotes inside it do not end the string.
    """
    quote_char, k = text[j], j + 1
    while k < len(text):
        ch = text[k]
        if ch == "\\":
            k += 2
        elif ch == quote_char:
            return k + 1
        elif ch == "{" and interp:
            end = _skip_code(text, k + 1)
            if end < 0:
                return -1
            k = end + 1
        else:
            k += 1
    return -1


def _show_char(ch: str) -> str:
    """A character for an error message: quoted if printable, else U+XXXX."""
    # Printable ASCII only: the rule must not depend on the Unicode tables of a Python version.
    return f"'{ch}'" if "!" <= ch <= "~" else f"U+{ord(ch):04X}"
