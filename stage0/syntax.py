"""The syntax tree as data: reserved words, node kinds and their fields, the `--dump-ast` printer.

This is the one description of the tree. The seed compiler builds these
dataclasses; `lib/frontend/prs.ilu` builds objects with the same type tag
(`.t`, the class name here) and the same fields in the same order, so both
parsers can be compared through `dump()`. Every node carries the line and
column where it starts (1-based).

What the ilusm side needs of it (reserved words, statement kinds, each
kind's fields, which of them hold child nodes or lists of them, which kinds
bind names) is generated into `lib/frontend/nodes.ilu` by
`tools/gen_nodes.py` from the tables at the end of this module, which are
derived from the classes, never written by hand.

Each class says what it is with `kind`: an expression (`expr`), a statement
(`stmt`, it produces no value of its own) or a part of a larger construct
(`part`: MatArm, Block, Program). Statements are nodes too; a `Block` is a
list of statements. Expressions used as statements stand in a block as
themselves. A field holding a name the construct binds is marked `BINDS`.
"""
from __future__ import annotations

import typing
from dataclasses import dataclass, field, fields
from typing import ClassVar, NamedTuple, Optional, Union

from stage0.values import RESERVED, dump_num, quote

# The reserved words: never names (the lexers make them KW tokens). Written once in values.py.
KEYWORDS = RESERVED

# Field metadata: the field holds what the construct binds in the scope it stands in (a name, a
# list of names, or an assignment's target when that is a Name), or the parameters it binds in
# its own new scope.
BINDS = {"binds": "scope"}
PARAMS = {"binds": "params"}


@dataclass
class Node:
    """Base: position of the first token of the construct."""

    kind: ClassVar[str] = "expr"
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

    params: list[str] = field(metadata=PARAMS)
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

    kind: ClassVar[str] = "part"

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

    kind: ClassVar[str] = "part"

    stmts: list[Node]


@dataclass
class Assign(Node):
    """`target op value`: target is Name, Field or Index; op is = += -= *= /= %=. A Name target is bound."""

    kind: ClassVar[str] = "stmt"

    target: Node = field(metadata=BINDS)
    op: str
    value: Node


@dataclass
class Def(Node):
    """`def NAME = value`: a constant binding."""

    kind: ClassVar[str] = "stmt"

    name: str = field(metadata=BINDS)
    value: Node


@dataclass
class FnDef(Node):
    """`name(a, b) = body`."""

    kind: ClassVar[str] = "stmt"

    name: str = field(metadata=BINDS)
    params: list[str] = field(metadata=PARAMS)
    body: Node


@dataclass
class Ret(Node):
    """`ret` or `ret value`."""

    kind: ClassVar[str] = "stmt"

    value: Optional[Node] = None


@dataclass
class Brk(Node):
    """`brk`."""

    kind: ClassVar[str] = "stmt"


@dataclass
class Cnt(Node):
    """`cnt`."""

    kind: ClassVar[str] = "stmt"


@dataclass
class Whl(Node):
    """`whl cond: body`."""

    kind: ClassVar[str] = "stmt"

    cond: Node
    body: Node


@dataclass
class For(Node):
    """`x <- e: body` (names == [x]) or `i, x <- e: body`."""

    kind: ClassVar[str] = "stmt"

    names: list[str] = field(metadata=BINDS)
    iter: Node
    body: Node


@dataclass
class Use(Node):
    """`use name` (name set) or `use "path.ilu"` (path set)."""

    kind: ClassVar[str] = "stmt"

    name: Optional[str] = field(default=None, metadata=BINDS)
    path: Optional[str] = None


@dataclass
class Program(Node):
    """A whole module: its top-level statements."""

    kind: ClassVar[str] = "part"

    stmts: list[Node]


# ---- the tree as data (derived from the classes above) ------------------

class Slot(NamedTuple):
    """One field of a node kind: what it holds and what it binds."""

    name: str
    holds: str  # "node" (a node or nil), "nodes" (a list of nodes or nil) or "value" (anything else)
    binds: str  # "" , "scope" (binds in the enclosing scope) or "params" (in the construct's own)


def _holds(hint: object) -> str:
    """What a field annotated `hint` holds: "node", "nodes" or "value"."""
    if isinstance(hint, type) and issubclass(hint, Node):
        return "node"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is list:
        return "nodes" if _holds(args[0]) == "node" else "value"
    if typing.get_origin(hint) is Union and len(args) == 1:  # Optional[X]
        return _holds(args[0])
    return "value"


def _slots(cls: type[Node]) -> tuple[Slot, ...]:
    hints = typing.get_type_hints(cls)
    return tuple(Slot(f.name, _holds(hints[f.name]), f.metadata.get("binds", ""))
                 for f in fields(cls) if f.name not in ("line", "col"))


# Every node kind, in the order of the classes above, with its fields in dataclass order.
KINDS: dict[str, type[Node]] = {c.__name__: c for c in Node.__subclasses__()}
SLOTS: dict[str, tuple[Slot, ...]] = {name: _slots(c) for name, c in KINDS.items()}
# The statement kinds: nodes that produce no value of their own.
STATEMENTS = frozenset(name for name, c in KINDS.items() if c.kind == "stmt")
# The kinds that bind names in the scope they stand in.
BINDERS = frozenset(name for name, slots in SLOTS.items() if any(s.binds == "scope" for s in slots))
# The field names that hold lists of nodes (a field name means the same in every kind: checked here).
LIST_FIELDS = frozenset(s.name for slots in SLOTS.values() for s in slots if s.holds == "nodes")
assert not any(s.name in LIST_FIELDS and s.holds == "node" for slots in SLOTS.values() for s in slots)


def kids(kind: str) -> list[str]:
    """The fields of a node kind that hold nodes or lists of nodes, in order."""
    return [s.name for s in SLOTS[kind] if s.holds != "value"]


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


# A capability line of a module's leading comment block (`# @requires fs, net`, `# @uses env`);
# group 2 holds the names, split by CAP_NAME at commas and spaces. Both compilers read these
# (seedc/driver.py declared_caps; compile_pipeline.ilu gets them from tools/gen_kernel.py).
DECLARATION = r"^\s*#\s*@(requires|uses)\b(.*)$"
CAP_NAME = r"[^,\s]+"
