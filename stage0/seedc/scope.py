"""Scope analysis for the seed compiler: which names are locals, cells, upvalues.

The contract's rule: a name assigned anywhere in a function body is local to
that function for the whole body; other names resolve lexically to enclosing
functions' locals (captured by reference), then to module globals and
builtins. At module level every name is a global.

Closures capture by reference, so a local that an inner function reads must
live in a cell from the start of its function. That is only known after the
inner functions have been seen, hence this pass runs over a whole module
before any code is generated. The result is one Scope per function node,
looked up by `id(node)`.
"""
from __future__ import annotations

from typing import Optional

from stage0 import syntax as A
from stage0.errors import CompileError
from stage0.image.model import UPVAL_FROM_CELL, UPVAL_FROM_UPVAL


class Scope:
    """The variables of one function (or of the module's top level)."""

    def __init__(self, parent: Optional["Scope"], params: list[str], is_module: bool) -> None:
        self.parent, self.is_module = parent, is_module
        self.slots: dict[str, int] = {}
        self.cells: set[str] = set()
        self.upvals: dict[str, int] = {}
        self.upval_desc: list[tuple[int, int]] = []
        self.consts: set[str] = set()
        self.nslots = 0
        for p in params:
            self.slot(p)

    def slot(self, name: str) -> int:
        """The slot of a local, allocating it on first sight."""
        if name not in self.slots:
            self.slots[name] = self.nslots
            self.nslots += 1
        return self.slots[name]

    def hidden(self) -> int:
        """A fresh anonymous slot (loop iterators, `mat` subjects)."""
        self.nslots += 1
        return self.nslots - 1

    def upval(self, name: str) -> Optional[int]:
        """Index of `name` among this function's captured variables, if it is one."""
        if name in self.upvals:
            return self.upvals[name]
        parent = self.parent
        if parent is None or parent.is_module:
            return None
        if name in parent.slots:
            parent.cells.add(name)
            desc = (UPVAL_FROM_CELL, parent.slots[name])
        else:
            outer = parent.upval(name)
            if outer is None:
                return None
            desc = (UPVAL_FROM_UPVAL, outer)
        self.upvals[name] = len(self.upval_desc)
        self.upval_desc.append(desc)
        return self.upvals[name]


def assigned_names(body: A.Node) -> list[str]:
    """Names a function body binds, in first-seen order, not entering nested functions."""
    found: dict[str, None] = {}

    def visit(n: object) -> None:
        if isinstance(n, list):
            for x in n:
                visit(x)
            return
        if not isinstance(n, A.Node) or isinstance(n, A.Lambda):
            return
        if isinstance(n, A.Assign) and isinstance(n.target, A.Name):
            found.setdefault(n.target.name)
        elif isinstance(n, (A.Def, A.FnDef)):
            found.setdefault(n.name)
        elif isinstance(n, A.For):
            for name in n.names:
                found.setdefault(name)
        elif isinstance(n, A.Use) and n.name:
            found.setdefault(n.name)
        if isinstance(n, A.FnDef):
            return
        for value in vars(n).values():
            visit(value)

    visit(body)
    return list(found)


class Analyzer:
    """Walks a module once, building every function's Scope."""

    def __init__(self, file: str, lines: list[str]) -> None:
        self.file, self.lines = file, lines
        self.scopes: dict[int, Scope] = {}

    def module(self, prog: A.Program) -> Scope:
        """Analyze a whole module; returns the top-level scope."""
        top = Scope(None, [], is_module=True)
        self.scopes[id(prog)] = top
        self.check_consts(prog.stmts, top)
        self.visit(prog.stmts, top)
        return top

    def function(self, node: A.Lambda | A.FnDef, parent: Scope) -> None:
        """Analyze one function node under its enclosing scope."""
        scope = Scope(parent, node.params, is_module=False)
        for name in assigned_names(node.body):
            scope.slot(name)
        self.scopes[id(node)] = scope
        body = node.body.stmts if isinstance(node.body, A.Block) else [node.body]
        self.check_consts(body, scope, tuple(node.params))
        self.visit(node.body, scope)

    def visit(self, n: object, scope: Scope) -> None:
        """Resolve every name read below n, analyzing nested functions."""
        if isinstance(n, list):
            for x in n:
                self.visit(x, scope)
        elif isinstance(n, (A.Lambda, A.FnDef)):
            self.function(n, scope)
        elif isinstance(n, A.Name):
            if not scope.is_module and n.name not in scope.slots:
                scope.upval(n.name)
        elif isinstance(n, A.Node):
            for value in vars(n).values():
                self.visit(value, scope)

    def check_consts(self, stmts: list[A.Node], scope: Scope, params: tuple[str, ...] = ()) -> None:
        """A `def` name is bound once in its scope: the binding after the first is the error.

        Bindings are taken in source order, parameters first; a binding is rejected when
        its name was bound before and either that binding or this one is a `def`.
        """
        walk = walk_stmts(stmts)
        scope.consts = {s.name for s in walk if isinstance(s, A.Def)}
        if not scope.consts:
            return
        is_def: dict[str, bool] = {p: False for p in params}
        for s in walk:
            for name in bound_names(s):
                if name in is_def and (is_def[name] or isinstance(s, A.Def)):
                    self.error(f"cannot assign to constant '{name}'", s)
                is_def[name] = is_def.get(name, False) or isinstance(s, A.Def)

    def error(self, message: str, node: A.Node) -> CompileError:
        """Raise a compile error (kind `error`) at node."""
        src = self.lines[node.line - 1] if 0 < node.line <= len(self.lines) else None
        raise CompileError(message, self.file, node.line, node.col, src, kind="error")


def bound_names(s: A.Node) -> list[str]:
    """The names a statement binds."""
    if isinstance(s, A.Assign) and isinstance(s.target, A.Name):
        return [s.target.name]
    if isinstance(s, (A.Def, A.FnDef)):
        return [s.name]
    if isinstance(s, A.For):
        return list(s.names)
    if isinstance(s, A.Use) and s.name:
        return [s.name]
    return []


def walk_stmts(stmts: object) -> list[A.Node]:
    """Every statement node in source order, not entering nested functions."""
    out: list[A.Node] = []

    def visit(n: object) -> None:
        if isinstance(n, list):
            for x in n:
                visit(x)
        elif isinstance(n, A.Node) and not isinstance(n, A.Lambda):
            out.append(n)
            if not isinstance(n, A.FnDef):
                for value in vars(n).values():
                    visit(value)

    visit(stmts)
    return out
