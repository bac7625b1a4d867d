"""The seed compiler's code generator: one module's AST into functions of an image.

Shaped like clox: one method per node kind, a `FnBuilder` per function, and
scopes precomputed by `scope.py` so a captured local is a cell from the start.
Statements leave the operand stack as they found it; expressions push one
value. A function body's last statement gives its result (an `if` or `mat`
counts), and a call in tail position becomes CALL_TAIL.

Entry point: `compile_module(prog, ...)`, used by `driver.py`.
"""
from __future__ import annotations

from typing import Callable

from stage0 import syntax as A
from stage0.errors import CompileError
from stage0.image.model import FuncDef
from stage0.seedc.emit import FnBuilder, ImageBuilder
from stage0.seedc.scope import Analyzer, Scope

BINOPS = {"+": "ADD", "-": "SUB", "*": "MUL", "/": "DIV", "%": "MOD", "==": "EQ",
          "!=": "NEQ", "<": "LT", ">": "GT", "<=": "LE", ">=": "GE", "..": "RANGE"}
ASSIGN_OPS = {"+=": "ADD", "-=": "SUB", "*=": "MUL", "/=": "DIV", "%=": "MOD"}
MAX_ARGS = 255  # CALL's argument count is a u8

# Resolves a `use` statement of this module to a module index of the image.
UseResolver = Callable[[A.Use], int]


class Loop:
    """Jump bookkeeping for `brk` and `cnt` in the innermost loop.

    `held` is how many operand-stack values enclosing expressions had pushed
    when the loop began (see FunctionCompiler.held_expr).
    """

    def __init__(self, top: int, held: int) -> None:
        self.top, self.held = top, held
        self.breaks: list[int] = []


class FunctionCompiler:
    """Compiles one function body (or a module's top level) into a FuncDef."""

    def __init__(self, mod: "ModuleCompiler", scope: Scope, name: str) -> None:
        self.mod, self.scope, self.name = mod, scope, name
        self.b = FnBuilder()
        self.loops: list[Loop] = []
        # Values that enclosing, unfinished expressions keep on the operand
        # stack here: a `brk` or `cnt` inside an `if` block used as an operand
        # (`1 + if c:` / `brk`) pops them before it jumps. A block cannot start
        # inside brackets, so only bracket-free operands count: the right of a
        # binary operator, assigned values, a range's bound, shorthand-call
        # arguments.
        self.held = 0

    # ---- function frame ------------------------------------------------------

    def finish(self, index: int, arity: int, at: A.Node | None = None) -> None:
        """Store the finished function, defined by node `at` (None: a module's top
        level), in its reserved image slot."""
        self.check_frame(at)
        s, ib = self.scope, self.mod.ib
        by_slot = [""] * s.nslots
        for name, slot in s.slots.items():
            by_slot[slot] = name
        locals_ = [ib.name(n) for n in by_slot]
        upvals = [ib.name(n) for n in s.upvals]
        code, lines = self.b.assemble()
        ib.image.funcs[index] = FuncDef(ib.name(self.name), arity, s.nslots, list(s.upval_desc),
                                        code, lines, locals_, upvals)

    def check_frame(self, at: A.Node | None) -> None:
        """Refuse a function past the u16 counts of its header, at its definition (a
        module's top level as a program too large, at 1:1)."""
        s = self.scope
        for count, what in ((s.nslots, "local variables"), (len(s.upval_desc), "captured variables")):
            if count > 0xFFFF:
                msg = f"too many {what} in one function (at most 65535)"
                if at is None:
                    raise OverflowError(msg)
                raise self.mod.error(msg, at)

    def prologue(self) -> None:
        """Wrap captured locals (parameters included) in cells before any use."""
        for name in sorted(self.scope.cells, key=self.scope.slots.__getitem__):
            self.b.emit("MAKE_CELL", self.scope.slots[name])

    def function_body(self, body: A.Node) -> None:
        """Compile a body whose value is returned."""
        self.value(body, tail=True)
        self.b.emit("RET")

    # ---- names -----------------------------------------------------------------

    def load(self, name: str) -> None:
        """Push the value of a name: local, cell, captured, or global."""
        s = self.scope
        if not s.is_module and name in s.slots:
            op = "LOAD_CELL" if name in s.cells else "LOAD_LOCAL"
            self.b.emit(op, s.slots[name])
            return
        up = None if s.is_module else s.upval(name)
        if up is not None:
            self.b.emit("LOAD_UPVAL", up)
        else:
            self.b.emit("LOAD_GLOBAL", self.mod.ib.name(name))

    def store(self, name: str) -> None:
        """Pop into a name: a global at module level, else a local or cell."""
        s = self.scope
        if s.is_module:
            self.b.emit("STORE_GLOBAL", self.mod.ib.name(name))
        else:
            self.b.emit("STORE_CELL" if name in s.cells else "STORE_LOCAL", s.slots[name])

    def is_host_call(self, fn: A.Node) -> bool:
        """A call of an unshadowed `__name` goes straight to the host (SYSCALL)."""
        if not isinstance(fn, A.Name) or not fn.name.startswith("__"):
            return False
        s = self.scope
        return s.is_module or (fn.name not in s.slots and s.upval(fn.name) is None)

    # ---- statements ------------------------------------------------------------

    def block(self, stmts: list[A.Node]) -> None:
        """Statements for effect only."""
        for s in stmts:
            self.stmt(s)

    def body(self, node: A.Node) -> None:
        """A body for effect: a Block or a single statement."""
        if isinstance(node, A.Block):
            self.block(node.stmts)
        else:
            self.stmt(node)

    def stmt(self, n: A.Node) -> None:
        """One statement; the stack is unchanged afterwards."""
        self.b.at(n.line)
        handler = getattr(self, "s_" + type(n).__name__, None)
        if handler is not None:
            handler(n)
        elif isinstance(n, A.If):
            self.if_(n, want=False, tail=False)
        elif isinstance(n, A.Mat):
            self.mat(n, want=False, tail=False)
        else:
            self.expr(n)
            self.b.emit("POP")

    def value(self, node: A.Node, tail: bool = False) -> None:
        """Push the value of a body or statement: the last statement's value, or nil."""
        self.b.at(node.line)
        if isinstance(node, A.Block):
            if not node.stmts:
                self.b.emit("PUSH_NIL")
                return
            self.block(node.stmts[:-1])
            self.value(node.stmts[-1], tail)
        elif isinstance(node, A.If):
            self.if_(node, want=True, tail=tail)
        elif isinstance(node, A.Mat):
            self.mat(node, want=True, tail=tail)
        elif isinstance(node, A.Ret):
            self.s_Ret(node)
            self.b.emit("PUSH_NIL")  # unreachable; keeps the stack shape uniform
        elif node.kind == "stmt":
            self.stmt(node)
            self.b.emit("PUSH_NIL")
        else:
            self.expr(node, tail)

    def s_Assign(self, n: A.Assign) -> None:
        """assign = target ( "=" | "+=" | ... ) expr."""
        t, op = n.target, ASSIGN_OPS.get(n.op)
        if isinstance(t, A.Name):
            if op:
                self.load(t.name)
            self.held_expr(n.value, 1 if op else 0)
            if op:
                self.b.emit(op)
            self.store(t.name)
        elif isinstance(t, A.Field):
            self.expr(t.x)
            if op:
                self.b.emit("DUP")
                self.b.emit("GET_FIELD", self.mod.ib.name(t.name))
            self.held_expr(n.value, 2 if op else 1)
            if op:
                self.b.emit(op)
            self.b.emit("SET_FIELD", self.mod.ib.name(t.name))
            self.b.emit("POP")
        else:
            assert isinstance(t, A.Index)
            self.expr(t.x)
            self.held_expr(t.i, 1)
            if op:
                self.b.emit("DUP2")
                self.b.emit("GET_IDX")
            self.held_expr(n.value, 3 if op else 2)
            if op:
                self.b.emit(op)
            self.b.emit("SET_IDX")
            self.b.emit("POP")

    def s_Def(self, n: A.Def) -> None:
        """def_stmt = "def" IDENT "=" expr."""
        self.expr(n.value)
        self.store(n.name)

    def s_FnDef(self, n: A.FnDef) -> None:
        """fundef = IDENT "(" params ")" "=" body."""
        self.closure(n, n.name)
        self.store(n.name)

    def s_Ret(self, n: A.Ret) -> None:
        """ret_stmt = "ret" [ expr ]."""
        if n.value is None:
            self.b.emit("PUSH_NIL")
        else:
            self.expr(n.value, tail=True)
        self.b.emit("RET")

    def s_Brk(self, n: A.Brk) -> None:
        """`brk`: leave the innermost loop."""
        self.drop_held()
        self.loops[-1].breaks.append(self.b.jump("JUMP"))

    def s_Cnt(self, n: A.Cnt) -> None:
        """`cnt`: next iteration of the innermost loop."""
        self.drop_held()
        self.b.loop_back(self.loops[-1].top)

    def drop_held(self) -> None:
        """Pop what enclosing expressions pushed since the innermost loop began."""
        for _ in range(self.held - self.loops[-1].held):
            self.b.emit("POP")

    def s_Whl(self, n: A.Whl) -> None:
        """whl_stmt = "whl" expr ":" body."""
        top = self.b.here()
        self.expr(n.cond)
        exit_ = self.b.jump("JUMP_UNLESS")
        self.loop_body(top, n.body)
        self.b.patch(exit_)
        self.end_loop()

    def s_For(self, n: A.For) -> None:
        """for_stmt = IDENT [ "," IDENT ] "<-" expr ":" body."""
        slot = self.scope.hidden()
        it = n.iter
        if len(n.names) == 1 and isinstance(it, A.Bin) and it.op == "..":
            self.expr(it.l)
            self.held_expr(it.r, 1)
            self.b.emit("ITER_RANGE", slot)
        else:
            self.expr(it)
            self.b.emit("ITER" if len(n.names) == 1 else "ITER2", slot)
        top = self.b.here()
        exit_ = self.b.jump("FOR_NEXT" if len(n.names) == 1 else "FOR_NEXT2", slot)
        for name in reversed(n.names):
            self.store(name)
        self.loop_body(top, n.body)
        self.b.patch(exit_)
        self.end_loop()

    def loop_body(self, top: int, body: A.Node) -> None:
        """A loop body followed by the jump back to `top`."""
        self.loops.append(Loop(top, self.held))
        self.body(body)
        self.b.loop_back(top)

    def end_loop(self) -> None:
        """Patch the loop's `brk` jumps to land here."""
        for at in self.loops.pop().breaks:
            self.b.patch(at)

    def s_Use(self, n: A.Use) -> None:
        """use_stmt = "use" IDENT | "use" STRING."""
        self.b.emit("USE", self.mod.resolve(n))
        if n.name:
            self.store(n.name)
        else:
            self.b.emit("IMPORT_ALL")

    # ---- if and mat --------------------------------------------------------

    def if_(self, n: A.If, want: bool, tail: bool) -> None:
        """if_stmt / if-expression: each arm jumps to the end after its body."""
        ends = []
        for cond, body in zip(n.conds, n.bodies):
            self.b.at(cond.line)
            self.expr(cond)
            nxt = self.b.jump("JUMP_UNLESS")
            self.arm(body, want, tail)
            ends.append(self.b.jump("JUMP"))
            self.b.patch(nxt)
        if n.els is not None:
            self.arm(n.els, want, tail)
        elif want:
            self.b.emit("PUSH_NIL")
        for at in ends:
            self.b.patch(at)

    def arm(self, body: A.Node, want: bool, tail: bool) -> None:
        """The body of an if/mat arm, for its value or for effect."""
        if want:
            self.value(body, tail)
        else:
            self.body(body)

    def mat(self, n: A.Mat, want: bool, tail: bool) -> None:
        """mat_stmt = "mat" expr ":" arms; the subject waits in a hidden slot."""
        slot = self.scope.hidden()
        self.expr(n.x)
        self.b.emit("STORE_LOCAL", slot)
        ends = []
        for arm in n.arms:
            self.b.at(arm.line)
            hits = []
            for pat in arm.pats or []:
                self.b.emit("LOAD_LOCAL", slot)
                self.expr(pat)
                self.b.emit("EQ")
                hits.append(self.b.jump("JUMP_IF"))
            skip = self.b.jump("JUMP") if arm.pats is not None else None
            for at in hits:
                self.b.patch(at)
            self.arm(arm.body, want, tail)
            ends.append(self.b.jump("JUMP"))
            if skip is not None:
                self.b.patch(skip)
        if want:
            self.b.emit("PUSH_NIL")
        for at in ends:
            self.b.patch(at)

    # ---- expressions -----------------------------------------------------------

    def held_expr(self, n: A.Node, held: int) -> None:
        """Push the value of `n` while `held` earlier operands of its enclosing expression wait beneath."""
        self.held += held
        self.expr(n)
        self.held -= held

    def expr(self, n: A.Node, tail: bool = False) -> None:
        """Push the value of an expression."""
        self.b.at(n.line)
        if isinstance(n, (A.Field, A.Index, A.Call)):
            self.chain(n, tail)
        elif isinstance(n, A.If):
            self.if_(n, want=True, tail=tail)
        elif isinstance(n, A.Mat):
            self.mat(n, want=True, tail=tail)
        else:
            getattr(self, "e_" + type(n).__name__)(n)

    def e_Paren(self, n: A.Paren) -> None:
        """A parenthesized optional chain: its short-circuit lands here, not past the links after it."""
        self.expr(n.x)

    def e_Num(self, n: A.Num) -> None:
        """A number literal."""
        self.b.emit("PUSH_CONST", self.mod.ib.const(n.v))

    def e_Str(self, n: A.Str) -> None:
        """A string literal."""
        self.b.emit("PUSH_CONST", self.mod.ib.const(n.v))

    def e_Bool(self, n: A.Bool) -> None:
        """`tru` / `fls`."""
        self.b.emit("PUSH_TRU" if n.v else "PUSH_FLS")

    def e_Nil(self, n: A.Nil) -> None:
        """`nil`."""
        self.b.emit("PUSH_NIL")

    def e_Name(self, n: A.Name) -> None:
        """A variable reference."""
        self.load(n.name)

    def e_Interp(self, n: A.Interp) -> None:
        """`$"a {x} b"`: every part, then CONCAT."""
        for part in n.parts:
            self.expr(part)
        self.b.emit("CONCAT", len(n.parts))

    def e_List(self, n: A.List) -> None:
        """`[a, b]`."""
        for item in n.items:
            self.expr(item)
        self.b.emit("MAKE_LIST", len(n.items))

    def e_Obj(self, n: A.Obj) -> None:
        """`{k: v}`: key constants interleaved with values."""
        for k, v in zip(n.keys, n.vals):
            self.b.emit("PUSH_CONST", self.mod.ib.const(k))
            self.expr(v)
        self.b.emit("MAKE_OBJ", len(n.keys))

    def e_Unary(self, n: A.Unary) -> None:
        """`-x` and `!x`."""
        self.expr(n.x)
        self.b.emit("NEG" if n.op == "-" else "NOT")

    def e_Bin(self, n: A.Bin) -> None:
        """Binary operators; `and` / `or` short-circuit and keep the deciding operand."""
        self.expr(n.l)
        if n.op in ("and", "or"):
            self.b.emit("DUP")
            end = self.b.jump("JUMP_UNLESS" if n.op == "and" else "JUMP_IF")
            self.b.emit("POP")
            self.expr(n.r)
            self.b.patch(end)
            return
        self.held_expr(n.r, 1)
        self.b.emit(BINOPS[n.op])

    def e_Lambda(self, n: A.Lambda) -> None:
        """`\\(a) body`."""
        self.closure(n, "anon")

    def closure(self, n: A.Lambda | A.FnDef, name: str) -> None:
        """Compile a nested function and push a closure of it."""
        index = self.mod.ib.reserve_func()
        inner = FunctionCompiler(self.mod, self.mod.scopes[id(n)], name)
        inner.b.at(n.line)
        inner.prologue()
        inner.function_body(n.body)
        inner.finish(index, len(n.params), n)
        self.b.at(n.line)
        self.b.emit("MAKE_CLOSURE", index)

    # ---- postfix chains (calls, fields, indexing, optional chaining) ----------

    def chain(self, n: A.Node, tail: bool) -> None:
        """A postfix chain; `?.`/`?[` jump past the rest of the chain on nil."""
        skips: list[int] = []
        self.link(n, skips, tail and not self.scope.is_module)
        for at in skips:
            self.b.patch(at)

    def link(self, n: A.Node, skips: list[int], tail: bool = False) -> None:
        """One link of a postfix chain, after compiling the links before it."""
        if isinstance(n, A.Call):
            self.call(n, skips, tail)
            return
        if not isinstance(n, (A.Field, A.Index)):
            self.expr(n)
            return
        self.link(n.x, skips)
        if n.opt:
            skips.append(self.b.jump("JUMP_IF_NIL"))
        self.b.at(n.line)
        if isinstance(n, A.Field):
            self.b.emit("GET_FIELD", self.mod.ib.name(n.name))
        else:
            self.expr(n.i)
            self.b.emit("GET_IDX")

    def call(self, n: A.Call, skips: list[int], tail: bool) -> None:
        """A call: host builtins by SYSCALL, tail calls by CALL_TAIL."""
        if len(n.args) > MAX_ARGS:
            raise self.mod.error(f"too many arguments in a call (at most {MAX_ARGS})", n)
        if self.is_host_call(n.fn):
            assert isinstance(n.fn, A.Name)
            for i, a in enumerate(n.args):
                self.held_expr(a, i)
            self.b.at(n.line)
            self.b.emit("SYSCALL", self.mod.ib.name(n.fn.name), len(n.args))
            return
        self.link(n.fn, skips)
        for i, a in enumerate(n.args):
            self.held_expr(a, i + 1)
        self.b.at(n.line)
        self.b.emit("CALL_TAIL" if tail and not skips else "CALL", len(n.args))


class ModuleCompiler:
    """Compiles one parsed module into the image being built."""

    def __init__(self, ib: ImageBuilder, file: str, source: str, resolve: UseResolver) -> None:
        self.ib, self.file, self.resolve = ib, file, resolve
        self.lines = source.splitlines()
        self.scopes: dict[int, Scope] = {}

    def error(self, message: str, node: A.Node) -> CompileError:
        """A compile error (kind `error`) at a node of this module."""
        src = self.lines[node.line - 1] if 0 < node.line <= len(self.lines) else None
        return CompileError(message, self.file, node.line, node.col, src, kind="error")

    def compile(self, prog: A.Program) -> int:
        """Compile the module body; returns the index of its top-level function."""
        analyzer = Analyzer(self.file, self.lines)
        top = analyzer.module(prog)
        self.scopes = analyzer.scopes
        index = self.ib.reserve_func()
        fc = FunctionCompiler(self, top, "<module>")
        fc.b.at(1)
        fc.block(prog.stmts)
        fc.b.emit("PUSH_NIL")
        fc.b.emit("RET")
        fc.finish(index, 0)
        return index


def compile_module(ib: ImageBuilder, prog: A.Program, file: str, source: str,
                   resolve: UseResolver) -> int:
    """Compile one module's AST into `ib`; returns its top-level function index."""
    try:
        return ModuleCompiler(ib, file, source, resolve).compile(prog)
    except OverflowError as e:
        raise CompileError(str(e), file, 1, 1, None, kind="error") from None
