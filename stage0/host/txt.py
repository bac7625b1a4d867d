"""Fast string primitives (`__txt_*`) for a compiler written in ilusm.

Positions and lengths count code points, not bytes. Indexes may be negative
(counting from the end); `__txt_at` checks its index like `s[i]`, while
`__txt_sub` clamps like a Python slice. The character classes are ASCII
only. A string builder is a plain lst of strings joined once at the end.
"""
from __future__ import annotations

from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.core import want, want_int
from stage0.host.registry import HostContext, builtin
from stage0.values import get_index, show, to_str

_DIGITS = frozenset("0123456789")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_ALNUM = _ALPHA | _DIGITS
_SPACE = frozenset(" \t\r\n")


def _s(name: str, v: Any) -> str:
    """Check that `v` is a str."""
    return want(name, v, "str")


# ---- characters -----------------------------------------------------------------


@builtin("__txt_at", 2)
def at(ctx: HostContext, s: Any, i: Any) -> str:
    """The one-character string at index i (negative counts from the end)."""
    return str(get_index(_s("__txt_at", s), i))


@builtin("__txt_ord", 1)
def ord_(ctx: HostContext, c: Any) -> int:
    """The code point of a one-character string."""
    if len(_s("__txt_ord", c)) != 1:
        raise RuntimeErr(f"__txt_ord expects a one-character str, got {show(c)}")
    return ord(c)


@builtin("__txt_chr", 1)
def chr_(ctx: HostContext, n: Any) -> str:
    """The one-character string for a code point (not a surrogate)."""
    cp = want_int("__txt_chr", n)
    if not 0 <= cp <= 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
        raise RuntimeErr(f"invalid code point {cp}")
    return chr(cp)


@builtin("__txt_lst", 1)
def lst(ctx: HostContext, s: Any) -> list[str]:
    """The characters of a string as a list."""
    return list(_s("__txt_lst", s))


# ---- searching and slicing ----------------------------------------------------------


@builtin("__txt_sub", 3)
def sub(ctx: HostContext, s: Any, a: Any, b: Any) -> str:
    """The substring [a, b), clamped like a slice; negatives count from the end."""
    return str(_s("__txt_sub", s)[want_int("__txt_sub", a):want_int("__txt_sub", b)])


@builtin("__txt_fnd", 3)
def fnd(ctx: HostContext, s: Any, needle: Any, start: Any) -> int:
    """The index of the first `needle` at or after `start`, or -1."""
    return _s("__txt_fnd", s).find(_s("__txt_fnd", needle), want_int("__txt_fnd", start))


@builtin("__txt_sw", 2)
def sw(ctx: HostContext, s: Any, prefix: Any) -> bool:
    """Whether s starts with prefix."""
    return _s("__txt_sw", s).startswith(_s("__txt_sw", prefix))


@builtin("__txt_ew", 2)
def ew(ctx: HostContext, s: Any, suffix: Any) -> bool:
    """Whether s ends with suffix."""
    return _s("__txt_ew", s).endswith(_s("__txt_ew", suffix))


# ---- splitting, joining, transforming -----------------------------------------------


@builtin("__txt_spl", 2)
def spl(ctx: HostContext, s: Any, sep: Any) -> list[str]:
    """Split on sep; an empty sep gives the characters."""
    text, sep = _s("__txt_spl", s), _s("__txt_spl", sep)
    return list(text) if sep == "" else text.split(sep)


@builtin("__txt_jn", 2)
def jn(ctx: HostContext, xs: Any, sep: Any) -> str:
    """Join a list's elements, each converted with str(), with sep between."""
    items = want("__txt_jn", xs, "lst")
    return _s("__txt_jn", sep).join(to_str(x) for x in items)


@builtin("__txt_up", 1)
def up(ctx: HostContext, s: Any) -> str:
    """Upper case."""
    return _s("__txt_up", s).upper()


@builtin("__txt_lo", 1)
def lo(ctx: HostContext, s: Any) -> str:
    """Lower case."""
    return _s("__txt_lo", s).lower()


@builtin("__txt_trm", 1)
def trm(ctx: HostContext, s: Any) -> str:
    """Strip leading and trailing whitespace."""
    return _s("__txt_trm", s).strip()


@builtin("__txt_rep", 3)
def rep(ctx: HostContext, s: Any, old: Any, new: Any) -> str:
    """Replace every occurrence of old with new."""
    return _s("__txt_rep", s).replace(_s("__txt_rep", old), _s("__txt_rep", new))


@builtin("__txt_rpt", 2)
def rpt(ctx: HostContext, s: Any, n: Any) -> str:
    """s repeated n times (n <= 0 gives "")."""
    text, count = _s("__txt_rpt", s), want_int("__txt_rpt", n)
    if count <= 0 or not text:
        return ""
    try:
        return text * count
    except (MemoryError, OverflowError):
        raise RuntimeErr("__txt_rpt: string too large") from None


# ---- ASCII character classes ---------------------------------------------------------


def _in_class(name: str, c: Any, chars: frozenset[str]) -> bool:
    """Whether c is a one-character string from `chars` ("" and longer: fls)."""
    return len(_s(name, c)) == 1 and c in chars


@builtin("__txt_isdg", 1)
def isdg(ctx: HostContext, c: Any) -> bool:
    """Whether c is an ASCII digit."""
    return _in_class("__txt_isdg", c, _DIGITS)


@builtin("__txt_isal", 1)
def isal(ctx: HostContext, c: Any) -> bool:
    """Whether c is an ASCII letter or _."""
    return _in_class("__txt_isal", c, _ALPHA)


@builtin("__txt_letter", 1)
def letter(ctx: HostContext, c: Any) -> bool:
    """Whether c is one letter of any script (Unicode alphabetic)."""
    return len(_s("__txt_letter", c)) == 1 and c.isalpha()


@builtin("__txt_isan", 1)
def isan(ctx: HostContext, c: Any) -> bool:
    """Whether c is an ASCII letter, digit or _."""
    return _in_class("__txt_isan", c, _ALNUM)


@builtin("__txt_issp", 1)
def issp(ctx: HostContext, c: Any) -> bool:
    """Whether c is a space, tab, carriage return or newline."""
    return _in_class("__txt_issp", c, _SPACE)


# ---- string builder ---------------------------------------------------------------


@builtin("__txt_sb_new", 0)
def sb_new(ctx: HostContext) -> list[str]:
    """A new, empty string builder (a lst of pieces)."""
    return []


@builtin("__txt_sb_add", 2)
def sb_add(ctx: HostContext, sb: Any, v: Any) -> list[str]:
    """Append str(v) to the builder; return the builder."""
    want("__txt_sb_add", sb, "lst").append(to_str(v))
    return sb


@builtin("__txt_sb_str", 1)
def sb_str(ctx: HostContext, sb: Any) -> str:
    """The builder's pieces joined into one string."""
    return "".join(to_str(x) for x in want("__txt_sb_str", sb, "lst"))
