"""Hints that teach: habits from other languages named in error messages.

An error caused by a common habit ends with one hint, always in the form
` (ilusm writes 'ILUSM' for 'HABIT')`. The seed parser and both engines take
their hints from here; the self-hosted parser (lib/frontend/prs.ilu) keeps
the same table (HABITS there), and the spec tests in tests/spec/syntax_errors/
check that both compilers agree. docs/language.md lists every hint.
"""
from __future__ import annotations

# Words other languages use where ilusm has its own: habit -> the ilusm spelling.
HABITS = {"else": "| ...", "while": "whl", "return": "ret", "print": "prn", "import": "use"}

# Field names other languages use for a length; reading one of a list or string gets the len hint.
LENGTH_FIELDS = ("length", "size", "count")


def hint(ilusm: str, habit: str) -> str:
    """The hint suffix: ` (ilusm writes 'ILUSM' for 'HABIT')`."""
    return f" (ilusm writes '{ilusm}' for '{habit}')"


def habit_hint(word: str) -> str:
    """The hint for a statement or name that is a habit word, else ""."""
    return hint(HABITS[word], word) if word in HABITS else ""


def undefined_name(name: str) -> str:
    """The runtime error for reading a name bound nowhere."""
    return f"undefined name '{name}'" + habit_hint(name)


def field_read(name: str, type_name: str) -> str:
    """The runtime error for reading field `name` of a value of type `type_name` (not an object)."""
    extra = hint("len(x)", "x." + name) if name in LENGTH_FIELDS and type_name in ("lst", "str") else ""
    return f"cannot read field '{name}' of {type_name}{extra}"


def comment_count(line: str) -> str:
    """The hint for a line whose text before its end is `#name` (a count in other languages), else "".

    In ilusm `#` starts a comment, so `n = #xs` leaves the expression empty.
    """
    text = line.rstrip(" \t")
    at = text.rfind("#")
    name = text[at + 1:]
    if at < 0 or not _is_name(name):
        return ""
    before = text[at - 1] if at > 0 else " "
    if _is_name_char(before) or before in "\"'":
        return ""
    return hint(f"len({name})", f"#{name}")


def _is_name(s: str) -> bool:
    """Is s an identifier: a letter or `_`, then letters, digits, `_`?"""
    return s != "" and not s[0].isdigit() and all(_is_name_char(c) for c in s)


def _is_name_char(c: str) -> bool:
    """An ASCII letter, digit or `_`."""
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9")
