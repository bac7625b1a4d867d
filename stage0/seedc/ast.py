"""AST nodes of the seed compiler, and the printer behind `--dump-ast`.

The node set is the project's AST vocabulary: `lib/frontend/prs.ilu` builds
objects with the same type tag (`.t`, the class name here) and the same field
names, so both parsers can be compared through `dump()`. Every node carries
the line and column where it starts (1-based).

Statements are nodes too; a `Block` is a list of statements. Expressions used
as statements stand in a block as themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Optional, Union

from stage0.values import dump_num, quote


@dataclass
class Node:
    """Base: position of the first token of the construct."""

    line: int = field(default=0, kw_only=True, compare=False)
    col: int = field(default=0, kw_only=True, compare=False)


# ---- expressions ---------------------------------------------------------

@dataclass
class Num(Node):
    """A number literal; `v` is an int or a float."""

    v: Union[int, float]


@dataclass
class Str(Node):
    """A string literal with its escapes already applied."""

    v: str


@dataclass
class Interp(Node):
    """An interpolated string: `parts` alternate Str pieces and expressions."""

    parts: list[Node]


@dataclass
class Bool(Node):
    """`tru` or `fls`."""

    v: bool


@dataclass
class Nil(Node):
    """`nil`."""


@dataclass
class Name(Node):
    """A reference to a variable."""

    name: str


@dataclass
class List(Node):
    """`[a, b, ...]`."""

    items: list[Node]


@dataclass
class Obj(Node):
    """`{k: v, "K": v}`: keys are plain strings."""

    keys: list[str]
    vals: list[Node]


@dataclass
class Unary(Node):
    """`-x` (op "-") or `!x` / `not x` (op "!")."""

    op: str
    x: Node


@dataclass
class Bin(Node):
    """Binary operator: + - * / % == != < > <= >= .. and or."""

    op: str
    l: Node
    r: Node


@dataclass
class Call(Node):
    """`f(a, b)`; also what `x |> f(a)` and shorthand calls become."""

    fn: Node
    args: list[Node]


@dataclass
class Field(Node):
    """`x.name`, or `x?.name` when opt is true."""

    x: Node
    name: str
    opt: bool = False


@dataclass
class Index(Node):
    """`x[i]`, or `x?[i]` when opt is true."""

    x: Node
    i: Node
    opt: bool = False


@dataclass
class Paren(Node):
    """`(x)` where x is an optional chain: the parentheses end it, so `(a?.b).c` reads `.c` of nil.

    Any other parenthesized expression is just its content.
    """

    x: Node


@dataclass
class Lambda(Node):
    """`\\(a, b) body` or `fn(a, b) body`; body is an expression or a Block."""

    params: list[str]
    body: Node


@dataclass
class If(Node):
    """`if c: a | if d: b | e`: conds and bodies pair up; els may be None."""

    conds: list[Node]
    bodies: list[Node]
    els: Optional[Node] = None


@dataclass
class MatArm(Node):
    """One arm of `mat`: pats is None for `_`, else a list of literal nodes."""

    pats: Optional[list[Node]]
    body: Node


@dataclass
class Mat(Node):
    """`mat x:` with arms tried in order."""

    x: Node
    arms: list[MatArm]


# ---- statements ------------------------------------------------------------

@dataclass
class Block(Node):
    """An indented block (or a single simple statement after ':' / '=')."""

    stmts: list[Node]


@dataclass
class Assign(Node):
    """`target op value`: target is Name, Field or Index; op is = += -= *= /= %=."""

    target: Node
    op: str
    value: Node


@dataclass
class Def(Node):
    """`def NAME = value`: a constant binding."""

    name: str
    value: Node


@dataclass
class FnDef(Node):
    """`name(a, b) = body`."""

    name: str
    params: list[str]
    body: Node


@dataclass
class Ret(Node):
    """`ret` or `ret value`."""

    value: Optional[Node] = None


@dataclass
class Brk(Node):
    """`brk`."""


@dataclass
class Cnt(Node):
    """`cnt`."""


@dataclass
class Whl(Node):
    """`whl cond: body`."""

    cond: Node
    body: Node


@dataclass
class For(Node):
    """`x <- e: body` (names == [x]) or `i, x <- e: body`."""

    names: list[str]
    iter: Node
    body: Node


@dataclass
class Use(Node):
    """`use name` (name set) or `use "path.ilu"` (path set)."""

    name: Optional[str] = None
    path: Optional[str] = None


@dataclass
class Program(Node):
    """A whole module: its top-level statements."""

    stmts: list[Node]


# ---- printer -------------------------------------------------------------

def dump(node: object, indent: int = 0) -> str:
    """Render a tree as an indented S-expression, one node per line.

    The format is `(Tag field=value ...)` for scalars, with child nodes and
    node lists on following lines, so a diff of two dumps points at the
    first differing node. Positions are printed as `@line:col`.
    """
    out: list[str] = []
    _dump(node, indent, out)
    return "\n".join(out)


def _dump(node: object, indent: int, out: list[str]) -> None:
    """Append the lines of `dump(node, indent)` to out (one list, so the time is linear)."""
    pad = "  " * indent
    if isinstance(node, list):
        if not node:
            out.append(pad + "[]")
            return
        out.append(pad + "[")
        for n in node:
            _dump(n, indent + 1, out)
        out.append(pad + "]")
        return
    if not isinstance(node, Node):
        out.append(pad + _scalar(node))
        return
    head, kids = [type(node).__name__, f"@{node.line}:{node.col}"], []
    for f in fields(node):
        if f.name in ("line", "col"):
            continue
        val = getattr(node, f.name)
        if isinstance(val, Node) or (isinstance(val, list) and any(isinstance(v, Node) for v in val)):
            kids.append((f.name, val))
        else:
            head.append(f"{f.name}={_scalar(val)}")
    out.append(pad + "(" + " ".join(head))
    for name, val in kids:
        out.append(f"{pad}  {name}:")
        _dump(val, indent + 2, out)
    out[-1] += ")"


def _scalar(v: object) -> str:
    """Print a non-node field value as ilusm would (prs.ilu prints the same text)."""
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, list):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if v is None:
        return "nil"
    if isinstance(v, bool):
        return "tru" if v else "fls"
    assert isinstance(v, (int, float))
    return dump_num(v)
