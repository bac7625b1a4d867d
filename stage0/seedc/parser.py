"""Parser of the seed compiler: tokens to the AST of stage0/syntax.py.

A recursive-descent parser for the grammar of contract §2; every parse
method's docstring names the rule it implements. Entry points: `parse` for a
module, `parse_expr_text` for the code inside an interpolated string.

Three pieces of state steer it:

- `no_pipe`: true while parsing the single-line then-part of an `if`, where
  a bare `|` ends the then-part instead of being a pipeline. Brackets, the
  conditions before `:` and indented blocks turn it off again.
- `in_loop` / `in_func`: for the compile-time checks `brk`/`cnt` outside a
  loop and `ret` outside a function. Function and lambda bodies reset both.

A construct that ends with an indented block (a block body, `mat`, a lambda
with a block body) ends its expression there: after a DEDENT no infix or
postfix operator continues it; only an `if` chain's `|` may follow.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, NoReturn, Optional, TypeVar

from stage0 import syntax as A
from stage0.errors import CompileError
from stage0.hints import comment_count, habit_hint, hint
from stage0.seedc.lexer import Token, tokenize

T = TypeVar("T")

ASSIGN_OPS = frozenset(["=", "+=", "-=", "*=", "/=", "%="])
COMPARE_OPS = frozenset(["==", "!=", "<", ">", "<=", ">="])
LITERAL_KWS = frozenset(["tru", "fls", "nil"])
# Reserved words that can only begin an expression (shorthand-call rule).
EXPR_KWS = frozenset(["tru", "fls", "nil", "if", "not", "fn", "mat"])
# Expressions, prefix operators and indented blocks nested in one another
# deeper than this are the syntax error "too deeply nested": a limit of the
# language, the same for both compilers on every host and engine.
MAX_NESTING = 1000


def parse(source: str, file: str) -> A.Program:
    """Parse a whole module; raises CompileError at the first error."""
    parser = _Parser(tokenize(source, file), file, source)
    try:
        return parser.program()
    except RecursionError:
        # MAX_NESTING keeps the parser well inside the stack the command line
        # gives it; a caller in a thread with a small stack and a low recursion
        # limit still gets the same error rather than a crash.
        parser.fail("too deeply nested", parser.tok)


def parse_expr_text(text: str, file: str, line: int, col: int,
                    source: Optional[str] = None) -> A.Node:
    """Parse `text` as one expression that stands at (line, col) of a file.

    Used for the `{...}` parts of interpolated strings: every position, in
    the tree and in errors, is mapped back to the original file; `source`
    (that file's text) supplies the line shown under an error.
    """
    lead = len(text) - len(text.lstrip(" \t"))
    shift_line, shift_col = line - 1, col - 1 + lead
    try:
        tokens = tokenize(text[lead:], file)
    except CompileError as e:
        raise _moved(e, shift_line, shift_col, source) from None
    for t in tokens:
        _move_token(t, shift_line, shift_col)
    # The fragment's NEWLINE and EOF stand where its closing `}` is.
    return _Parser(tokens, file, source, end="'}'").expr_text()


def _move_token(t: Token, shift_line: int, shift_col: int) -> None:
    """Move a fragment's token into the file; a nested interpolation's parts move too."""
    t.line, t.col = _moved_pos(t.line, t.col, shift_line, shift_col)
    if t.kind == "INTERP":
        moved = []
        for part in t.value:
            if not isinstance(part, str):
                part = (part[0], *_moved_pos(part[1], part[2], shift_line, shift_col))
            moved.append(part)
        t.value = moved


def _moved_pos(line: int, col: int, shift_line: int, shift_col: int) -> tuple[int, int]:
    """A fragment position moved into the file: columns shift on the fragment's first line."""
    return line + shift_line, col + (shift_col if line == 1 else 0)


def _moved(e: CompileError, shift_line: int, shift_col: int, source: Optional[str]) -> CompileError:
    """A copy of `e` moved from a fragment's coordinates to the file's."""
    line, col = _moved_pos(e.line, e.col, shift_line, shift_col)
    return CompileError(e.message, e.file, line, col, _source_line(source, line), e.kind)


def _source_line(source: Optional[str], line: int) -> Optional[str]:
    """Line `line` (1-based) of `source`, if there is one."""
    if source is None:
        return None
    lines = source.replace("\r\n", "\n").split("\n")
    return lines[line - 1] if 0 < line <= len(lines) else None


class _Parser:
    """The state of one parse."""

    def __init__(self, tokens: list[Token], file: str, source: Optional[str],
                 end: Optional[str] = None) -> None:
        self.tokens, self.pos, self.file, self.source = tokens, 0, file, source
        self.end = end  # how errors name NEWLINE/EOF, when not "end of line/file"
        self.no_pipe = False
        self.in_loop = False
        self.in_func = False
        self.depth = 0  # nesting, for MAX_NESTING
        self.lead: Optional[Token] = None  # the first token of the statement being parsed (for hints)

    # ---- token helpers ------------------------------------------------------

    @property
    def tok(self) -> Token:
        """The current token."""
        return self.tokens[self.pos]

    def peek(self, n: int) -> Token:
        """The token n places ahead (EOF past the end)."""
        return self.tokens[min(self.pos + n, len(self.tokens) - 1)]

    def advance(self) -> Token:
        """Consume and return the current token."""
        t = self.tokens[self.pos]
        self.pos += 1
        return t

    def at(self, kind: str, value: object = None) -> bool:
        """Is the current token of this kind (and value, when given)?"""
        t = self.tok
        return t.kind == kind and (value is None or t.value == value)

    def at_infix(self, *ops: str) -> bool:
        """Is the current token one of `ops`, continuing the expression?

        Not after a DEDENT: an expression that ended with a block is over.
        """
        return self.tok.kind == "OP" and self.tok.value in ops and not self.after_block()

    def after_block(self) -> bool:
        """Did the previous token close an indented block?"""
        return self.pos > 0 and self.tokens[self.pos - 1].kind == "DEDENT"

    def expect(self, kind: str, value: object, message: str) -> Token:
        """Consume a token of this kind and value, or fail with `message`."""
        if not self.at(kind, value):
            self.fail(message, self.tok)
        return self.advance()

    def deeper(self) -> None:
        """One nesting level in (undone by `self.depth -= 1`); past MAX_NESTING, a syntax error."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            self.fail("too deeply nested", self.tok)

    def fail(self, message: str, t: Token, kind: str = "syntax error") -> NoReturn:
        """Raise a compile error at token `t`; a syntax error in a statement led by a habit word gets its hint."""
        if kind == "syntax error" and self.lead is not None and self.lead.kind == "IDENT":
            message += habit_hint(self.lead.value)
        raise CompileError(message, self.file, t.line, t.col, _source_line(self.source, t.line), kind)

    def unexpected(self) -> NoReturn:
        """Fail on the current token; a line ending in `#name` where more was expected gets the len hint."""
        t = self.tok
        message = f"unexpected {self.describe(t)}"
        if t.kind in ("NEWLINE", "EOF") and self.end is None:
            line = _source_line(self.source, t.line) or ""
            message += comment_count(line[:t.col - 1])
        self.fail(message, t)

    def describe(self, t: Token) -> str:
        """A token as error messages name it."""
        if t.kind in ("OP", "KW"):
            return f"'{t.value}'"
        if t.kind in ("NEWLINE", "EOF") and self.end:
            return self.end
        return {"NUM": "number", "STR": "string", "INTERP": "string", "IDENT": f"name '{t.value}'",
                "NEWLINE": "end of line", "INDENT": "indent", "DEDENT": "dedent",
                "EOF": "end of file"}[t.kind]

    def node(self, cls: Callable[..., T], start: Token, *args: object) -> T:
        """Build an AST node positioned at token `start`."""
        return cls(*args, line=start.line, col=start.col)

    @contextmanager
    def state(self, **changes: bool) -> Iterator[None]:
        """Set no_pipe / in_loop / in_func for the duration of a with block."""
        saved = {name: getattr(self, name) for name in changes}
        for name, value in changes.items():
            setattr(self, name, value)
        try:
            yield
        finally:
            for name, value in saved.items():
                setattr(self, name, value)

    # ---- programs, blocks, bodies ---------------------------------------------

    def program(self) -> A.Program:
        """program = { stmt NEWLINE }"""
        stmts = []
        while not self.at("EOF"):
            stmts.append(self.stmt())
            self.end_stmt()
        return A.Program(stmts, line=1, col=1)

    def expr_text(self) -> A.Node:
        """expr_text = expr NEWLINE EOF   (the code of an interpolation part)"""
        x = self.expr()
        if self.at("NEWLINE"):
            self.advance()
        if not self.at("EOF"):
            self.unexpected()
        return x

    def end_stmt(self) -> None:
        """The NEWLINE after a statement; none after one that ended with a block."""
        if self.after_block():
            return
        if not self.at("NEWLINE"):
            self.unexpected()
        self.advance()

    def indented(self, item: Callable[[], T]) -> tuple[Token, list[T]]:
        """indented = NEWLINE INDENT { item NEWLINE } DEDENT"""
        self.expect("NEWLINE", None, f"unexpected {self.describe(self.tok)}")
        start = self.expect("INDENT", None, "expected an indented block")
        self.deeper()
        items = []
        with self.state(no_pipe=False):
            while not self.at("DEDENT"):
                items.append(item())
                self.end_stmt()
        self.advance()
        self.depth -= 1
        return start, items

    def block(self) -> A.Block:
        """block = NEWLINE INDENT { stmt NEWLINE } DEDENT"""
        start, stmts = self.indented(self.stmt)
        return self.node(A.Block, start, stmts)

    def body(self, stmt: bool) -> A.Node:
        """body = simple_stmt | block   (an expression instead of simple_stmt when not stmt)

        The statements inside lead only themselves: after the body, the enclosing statement leads again.
        """
        lead = self.lead
        if self.at("NEWLINE"):
            node: A.Node = self.block()
        else:
            node = self.stmt() if stmt else self.expr()
        self.lead = lead
        return node

    # ---- statements ---------------------------------------------------------------

    def stmt(self) -> A.Node:
        """stmt = use_stmt | fundef | def_stmt | assign | ret_stmt | "brk" | "cnt"
        | whl_stmt | for_stmt | if_stmt | mat_stmt | shorthand_call | expr"""
        t = self.lead = self.tok
        if t.kind == "KW":
            keyword = {"use": self.use_stmt, "def": self.def_stmt, "ret": self.ret_stmt,
                       "brk": self.loop_jump, "cnt": self.loop_jump, "whl": self.whl_stmt,
                       "if": lambda: self.if_(stmt=True), "mat": lambda: self.mat(stmt=True)}
            if t.value in keyword:
                return keyword[t.value]()
        if t.kind == "IDENT":
            if self.at_fundef():
                return self.fundef()
            if self.at_for():
                return self.for_stmt()
            if self.at_shorthand():
                return self.shorthand_call()
        return self.assign_or_expr()

    def use_stmt(self) -> A.Use:
        """use_stmt = "use" IDENT | "use" STRING"""
        start = self.advance()
        t = self.tok
        if t.kind == "IDENT":
            return self.node(A.Use, start, self.advance().value)
        if t.kind == "STR":
            return A.Use(path=self.advance().value, line=start.line, col=start.col)
        self.fail("expected a module name or a path after 'use'", t)

    def def_stmt(self) -> A.Def:
        """def_stmt = "def" IDENT "=" expr"""
        start = self.advance()
        name = self.expect("IDENT", None, "expected a name after 'def'").value
        if self.at("OP", "("):
            self.fail("expected '=' after the constant's name" + hint("f(x) = ...", "def f(x):"), self.tok)
        self.expect("OP", "=", "expected '=' after the constant's name")
        return self.node(A.Def, start, name, self.expr())

    def ret_stmt(self) -> A.Ret:
        """ret_stmt = "ret" [ expr ]"""
        start = self.advance()
        if not self.in_func:
            self.fail("ret outside a function", start, kind="error")
        value = self.expr() if self.starts_expr(self.tok) else None
        return self.node(A.Ret, start, value)

    def loop_jump(self) -> A.Node:
        """"brk" | "cnt" """
        t = self.advance()
        if not self.in_loop:
            self.fail(f"{t.value} outside a loop", t, kind="error")
        return self.node(A.Brk if t.value == "brk" else A.Cnt, t)

    def whl_stmt(self) -> A.Whl:
        """whl_stmt = "whl" expr ":" body"""
        start = self.advance()
        cond = self.head("expected ':' after the condition")
        with self.state(in_loop=True):
            body = self.body(stmt=True)
        return self.node(A.Whl, start, cond, body)

    def head(self, message: str) -> A.Node:
        """head = expr ":"   (the part of if/whl/<-/mat before the colon)"""
        with self.state(no_pipe=False):
            x = self.expr()
        self.expect("OP", ":", message)
        return x

    def at_for(self) -> bool:
        """Does a for_stmt start here: IDENT "<-" or IDENT "," IDENT "<-"?"""
        if self.peek(1).kind == "OP" and self.peek(1).value == "<-":
            return True
        return (self.peek(1).kind == "OP" and self.peek(1).value == ","
                and self.peek(2).kind == "IDENT"
                and self.peek(3).kind == "OP" and self.peek(3).value == "<-")

    def for_stmt(self) -> A.For:
        """for_stmt = IDENT [ "," IDENT ] "<-" expr ":" body"""
        start = self.advance()
        names = [start.value]
        if self.at("OP", ","):
            self.advance()
            names.append(self.advance().value)
        self.advance()  # "<-", checked by at_for
        iterable = self.head("expected ':' after the loop's expression")
        with self.state(in_loop=True):
            body = self.body(stmt=True)
        return self.node(A.For, start, names, iterable, body)

    def at_fundef(self) -> bool:
        """Does a fundef start here: IDENT "(" (no space) names ")" "="?"""
        if not (self.peek(1).kind == "OP" and self.peek(1).value == "(" and not self.peek(1).space_before):
            return False
        n = 2
        while self.peek(n).kind == "IDENT" and self.peek(n + 1).kind == "OP" and self.peek(n + 1).value == ",":
            n += 2
        if self.peek(n).kind == "IDENT":
            n += 1
        return (self.peek(n).kind == "OP" and self.peek(n).value == ")"
                and self.peek(n + 1).kind == "OP" and self.peek(n + 1).value == "=")

    def fundef(self) -> A.FnDef:
        """fundef = IDENT "(" [ IDENT { "," IDENT } ] ")" "=" body"""
        start = self.advance()
        params = self.params()
        self.expect("OP", "=", "expected '='")
        with self.state(in_func=True, in_loop=False):
            body = self.body(stmt=True)
        return self.node(A.FnDef, start, start.value, params, body)

    def params(self) -> list[str]:
        """params = "(" [ IDENT { "," IDENT } [ "," ] ] ")\""""
        names: list[str] = []

        def param() -> None:
            t = self.expect("IDENT", None, "expected a parameter name")
            if t.value in names:
                self.fail(f"duplicate parameter '{t.value}'", t)
            names.append(t.value)

        self.expect("OP", "(", "expected '('")
        self.comma_list(")", param)
        return names

    def at_shorthand(self) -> bool:
        """Is the IDENT here followed by a token that can only begin an expression?"""
        t = self.peek(1)
        if t.kind in ("NUM", "STR", "INTERP", "IDENT"):
            return True
        if t.kind == "KW":
            return t.value in EXPR_KWS
        if t.kind != "OP":
            return False
        if t.value in ("!", "\\", "{"):
            return True
        if t.value in ("(", "["):
            return t.space_before
        return t.value == "-" and t.space_before and not t.space_after

    def shorthand_call(self) -> A.Call:
        """shorthand_call = IDENT expr { "," expr }"""
        start = self.advance()
        args = [self.expr()]
        while self.at_infix(","):
            self.advance()
            args.append(self.expr())
        return self.node(A.Call, start, self.node(A.Name, start, start.value), args)

    def assign_or_expr(self) -> A.Node:
        """assign = target ( "=" | "+=" | "-=" | "*=" | "/=" | "%=" ) expr, else expr
        target = IDENT | postfix "." IDENT | postfix "[" expr "]\""""
        start = self.tok
        target = self.expr()
        if not self.at_infix(*ASSIGN_OPS):
            return target
        if not _assignable(target):
            self.fail("cannot assign to this expression", start)
        op = self.advance().value
        return self.node(A.Assign, start, target, op, self.expr())

    # ---- if and mat (statements and expressions) ---------------------------------

    def if_(self, stmt: bool) -> A.If:
        """if_stmt = "if" expr ":" body { "|" "if" expr ":" body } [ "|" body ]"""
        start = self.tok
        conds: list[A.Node] = []
        bodies: list[A.Node] = []
        while True:
            self.advance()  # "if"
            conds.append(self.head("expected ':' after the condition"))
            with self.state(no_pipe=True):
                bodies.append(self.body(stmt))
            if not self.take_bar():
                return self.node(A.If, start, conds, bodies, None)
            if not self.at("KW", "if"):
                return self.node(A.If, start, conds, bodies, self.body(stmt))

    def take_bar(self) -> bool:
        """Consume the `|` that continues an if: on this line, or starting the next."""
        if self.at("OP", "|"):
            self.advance()
            return True
        if self.at("NEWLINE") and self.peek(1).kind == "OP" and self.peek(1).value == "|":
            self.advance()
            self.advance()
            return True
        return False

    def mat(self, stmt: bool) -> A.Mat:
        """mat_stmt = "mat" expr ":" NEWLINE INDENT { pattern ( ":" | "=>" ) body NEWLINE } DEDENT"""
        start = self.advance()
        subject = self.head("expected ':' after the matched expression")
        if not self.at("NEWLINE"):
            self.fail("expected the arms of 'mat' on the following lines", self.tok)
        _, arms = self.indented(lambda: self.arm(stmt))
        return self.node(A.Mat, start, subject, arms)

    def arm(self, stmt: bool) -> A.MatArm:
        """arm = pattern ( ":" | "=>" ) body ; pattern = "_" | literal { "," literal }"""
        start = self.tok
        pats: Optional[list[A.Node]] = None
        if self.at("IDENT", "_"):
            self.advance()
        else:
            pats = [self.literal()]
            while self.at("OP", ","):
                self.advance()
                pats.append(self.literal())
        if not (self.at("OP", ":") or self.at("OP", "=>")):
            self.fail("expected ':' or '=>' after the pattern", self.tok)
        self.advance()
        return self.node(A.MatArm, start, pats, self.body(stmt))

    def literal(self) -> A.Node:
        """literal = [ "-" ] NUM | STRING | "tru" | "fls" | "nil\""""
        t = self.tok
        if t.kind == "OP" and t.value == "-" and self.peek(1).kind == "NUM":
            self.advance()
            return self.node(A.Num, t, -self.advance().value)
        if t.kind in ("NUM", "STR") or (t.kind == "KW" and t.value in LITERAL_KWS):
            return self.primary()
        self.fail("expected a literal pattern", t)

    # ---- expressions, loosest first ---------------------------------------------

    def expr(self) -> A.Node:
        """expr = pipeline   (lambdas and if-expressions are primaries that extend right)"""
        self.deeper()
        x = self.pipeline()
        self.depth -= 1
        return x

    def pipeline(self) -> A.Node:
        """pipeline = or_expr { ( "|>" | "|" ) or_expr }   (no bare "|" in a then-part)"""
        start = self.tok
        x = self.or_expr()
        while self.at_infix("|>") or (not self.no_pipe and self.at_infix("|")):
            self.advance()
            f = self.or_expr()
            # x |> f(a) is f(x, a); x |> f is f(x).
            if isinstance(f, A.Call):
                x = self.node(A.Call, start, f.fn, [x] + f.args)
            else:
                x = self.node(A.Call, start, f, [x])
        return x

    def or_expr(self) -> A.Node:
        """or_expr = and_expr { "or" and_expr }"""
        return self.left_assoc(self.and_expr, "KW", ("or",))

    def and_expr(self) -> A.Node:
        """and_expr = comparison { "and" comparison }"""
        return self.left_assoc(self.comparison, "KW", ("and",))

    def comparison(self) -> A.Node:
        """comparison = range [ ( "==" | "!=" | "<" | ">" | "<=" | ">=" ) range ]"""
        start = self.tok
        x = self.range_expr()
        if self.at_infix(*COMPARE_OPS):
            op = self.advance().value
            x = self.node(A.Bin, start, op, x, self.range_expr())
            if self.at_infix(*COMPARE_OPS):
                self.fail("comparison operators cannot be chained", self.tok)
        return x

    def range_expr(self) -> A.Node:
        """range = additive [ ".." additive ]"""
        start = self.tok
        x = self.additive()
        if self.at_infix(".."):
            self.advance()
            x = self.node(A.Bin, start, "..", x, self.additive())
        return x

    def additive(self) -> A.Node:
        """additive = term { ( "+" | "-" ) term }"""
        return self.left_assoc(self.term, "OP", ("+", "-"))

    def term(self) -> A.Node:
        """term = unary { ( "*" | "/" | "%" ) unary }"""
        return self.left_assoc(self.unary, "OP", ("*", "/", "%"))

    def left_assoc(self, operand: Callable[[], A.Node], kind: str, ops: tuple[str, ...]) -> A.Node:
        """binary = operand { op operand }, left-associative."""
        start = self.tok
        x = operand()
        while self.tok.kind == kind and self.tok.value in ops and not self.after_block():
            op = self.advance().value
            x = self.node(A.Bin, start, op, x, operand())
        return x

    def unary(self) -> A.Node:
        """unary = ( "-" | "!" | "not" ) unary | postfix"""
        t = self.tok
        if (t.kind == "OP" and t.value in ("-", "!")) or (t.kind == "KW" and t.value == "not"):
            self.advance()
            self.deeper()
            x = self.unary()
            self.depth -= 1
            return self.node(A.Unary, t, "-" if t.value == "-" else "!", x)
        return self.postfix()

    def postfix(self) -> A.Node:
        """postfix = primary { "(" args ")" | "[" expr "]" | "." IDENT | "?." IDENT | "?[" expr "]" }
        where "(" and "[" follow the previous token with no whitespace."""
        start = self.tok
        x = self.primary()
        while not self.after_block():
            t = self.tok
            if t.kind != "OP":
                break
            if t.value == "(" and not t.space_before:
                x = self.node(A.Call, start, x, self.call_args())
            elif t.value in ("[", "?[") and not (t.value == "[" and t.space_before):
                x = self.node(A.Index, start, x, self.index(), t.value == "?[")
            elif t.value in (".", "?."):
                x = self.node(A.Field, start, x, self.field_name(), t.value == "?.")
            else:
                break
        return x

    def call_args(self) -> list[A.Node]:
        """args = "(" [ expr { "," expr } [ "," ] ] ")\""""
        self.advance()
        return self.comma_list(")", self.expr)

    def index(self) -> A.Node:
        """index = ( "[" | "?[" ) expr "]\""""
        self.advance()
        with self.state(no_pipe=False):
            i = self.expr()
        self.expect("OP", "]", "expected ']'")
        return i

    def field_name(self) -> str:
        """field = ( "." | "?." ) IDENT"""
        self.advance()
        return self.expect("IDENT", None, "expected a field name").value

    def comma_list(self, close: str, item: Callable[[], T]) -> list[T]:
        """items = [ item { "," item } [ "," ] ] close   (inside brackets)"""
        items = []
        with self.state(no_pipe=False):
            while not self.at("OP", close):
                items.append(item())
                if not self.at("OP", ","):
                    break
                self.advance()
        self.expect("OP", close, f"expected ',' or '{close}'")
        return items

    # ---- primaries ------------------------------------------------------------------

    def primary(self) -> A.Node:
        """primary = NUM | STRING | INTERP | IDENT | "tru" | "fls" | "nil" | "(" expr ")"
        | list | object | if_expr | mat_expr | lambda"""
        t = self.tok
        if t.kind in ("NUM", "STR", "IDENT"):
            self.advance()
            cls = {"NUM": A.Num, "STR": A.Str, "IDENT": A.Name}[t.kind]
            return self.node(cls, t, t.value)
        if t.kind == "INTERP":
            return self.interp()
        if t.kind == "KW":
            return self.keyword_primary()
        if t.kind == "OP":
            handler = {"(": self.paren, "[": self.list_expr, "{": self.obj_expr,
                       "\\": self.lambda_expr}.get(t.value)
            if handler:
                return handler()
        self.unexpected()

    def keyword_primary(self) -> A.Node:
        """primary = "tru" | "fls" | "nil" | if_expr | mat_expr | "fn" lambda"""
        t = self.tok
        if t.value in ("tru", "fls"):
            self.advance()
            return self.node(A.Bool, t, t.value == "tru")
        if t.value == "nil":
            self.advance()
            return self.node(A.Nil, t)
        if t.value == "if":
            return self.if_(stmt=False)
        if t.value == "mat":
            return self.mat(stmt=False)
        if t.value == "fn":
            return self.lambda_expr()
        self.unexpected()

    def paren(self) -> A.Node:
        """paren = "(" expr ")\"; an optional chain inside stays a Paren node, since it ends there."""
        start = self.advance()
        with self.state(no_pipe=False):
            x = self.expr()
        self.expect("OP", ")", "expected ')'")
        return self.node(A.Paren, start, x) if _optional_chain(x) else x

    def list_expr(self) -> A.List:
        """list = "[" [ expr { "," expr } [ "," ] ] "]\""""
        start = self.advance()
        return self.node(A.List, start, self.comma_list("]", self.expr))

    def obj_expr(self) -> A.Obj:
        """object = "{" [ key ":" expr { "," key ":" expr } [ "," ] ] "}" ; key = IDENT | STRING"""
        start = self.advance()
        keys: list[str] = []
        vals: list[A.Node] = []

        def entry() -> None:
            if self.tok.kind not in ("IDENT", "STR"):
                self.fail("expected an object key (a name or a string)", self.tok)
            keys.append(self.advance().value)
            self.expect("OP", ":", "expected ':' after the object key")
            vals.append(self.expr())

        self.comma_list("}", entry)
        return self.node(A.Obj, start, keys, vals)

    def lambda_expr(self) -> A.Lambda:
        """lambda = ( "\\" | "fn" ) "(" [ IDENT { "," IDENT } ] ")" ( block | expr )"""
        start = self.advance()
        params = self.params()
        with self.state(in_func=True, in_loop=False):
            body = self.body(stmt=False)
        return self.node(A.Lambda, start, params, body)

    def interp(self) -> A.Interp:
        """interp = INTERP   (each {code} part parsed as an expression in place)"""
        t = self.advance()
        parts: list[A.Node] = []
        for part in t.value:
            if isinstance(part, str):
                if part:
                    parts.append(self.node(A.Str, t, part))
            else:
                text, line, col = part
                parts.append(parse_expr_text(text, self.file, line, col, self.source))
        return self.node(A.Interp, t, parts)

    def starts_expr(self, t: Token) -> bool:
        """Can token `t` begin an expression?"""
        if t.kind in ("NUM", "STR", "INTERP", "IDENT"):
            return True
        if t.kind == "KW":
            return t.value in EXPR_KWS
        return t.kind == "OP" and t.value in ("(", "[", "{", "-", "!", "\\")


def _assignable(x: A.Node) -> bool:
    """target = IDENT | postfix "." IDENT | postfix "[" expr "]"   (not ?. or ?[)"""
    if isinstance(x, A.Name):
        return True
    return isinstance(x, (A.Field, A.Index)) and not x.opt


def _optional_chain(x: A.Node) -> bool:
    """Does a postfix chain contain a `?.` or `?[` link (whose short-circuit a `)` must stop)?"""
    while isinstance(x, (A.Field, A.Index, A.Call)):
        if not isinstance(x, A.Call) and x.opt:
            return True
        x = x.fn if isinstance(x, A.Call) else x.x
    return False
