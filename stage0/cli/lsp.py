"""`ilusm lsp`: a language server over stdio (pygls), for any editor with an LSP client (docs/editors.md).

What it offers, computed from the open text on every change:
- diagnostics: the compile errors `ilusm run` would report (syntax and
  compile errors, a `use` that finds nothing), with the range of the word
  at the error;
- document symbols: the module's functions, values and `use`s;
- formatting: the whole document in `ilusm fmt`'s layout (left alone while it does not parse);
- go to definition: a function or global of the file, a `use`d module or
  file, a module member (`txt.spl`);
- hover: a function's signature and the `#` comment above it (a library
  module's members, builtins by their documentation);
- completion: the file's names, builtins, reserved words, and after `mod.`
  the members of a `use`d module.

The analysis (the `Doc` class) is plain Python over the seed front end, which
reports the same errors as the self-hosted one and answers at once; the
pygls wiring is in `serve`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from stage0 import syntax as A
from stage0.errors import CompileError

WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


@dataclass
class Found:
    """A definition: its file, 0-based line and column, its signature and its comment."""

    path: Path
    line: int
    col: int
    signature: str
    comment: str


class Doc:
    """One open document: its text, its path, and what its syntax tree says."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text = path, text
        self.lines = text.splitlines()
        self.tree = _parse(text, str(path))

    # ---- diagnostics -------------------------------------------------------------------

    def errors(self) -> list[tuple[int, int, int, str]]:
        """(line, start col, end col, message), 0-based, of the compile error in the text (at most one)."""
        from stage0.seedc.driver import compile_with_sources

        try:
            compile_with_sources(self.path, source=self.text)
        except CompileError as e:
            line, col = max(e.line - 1, 0), max(e.col - 1, 0)
            text = self.lines[line] if line < len(self.lines) else ""
            m = WORD.match(text, col)
            end = m.end() if m else min(col + 1, max(len(text), col + 1))
            return [(line, col, end, f"{e.kind}: {e.message}")]
        except RecursionError:
            return [(0, 0, 1, "error: program nested too deeply to compile")]
        return []

    # ---- names -------------------------------------------------------------------------

    def top(self) -> list[tuple[str, str, A.Node]]:
        """(name, kind, node) of each top-level definition: "function", "value" or "module"."""
        out: list[tuple[str, str, A.Node]] = []
        for s in self.tree.stmts if self.tree else []:
            if isinstance(s, A.FnDef):
                out.append((s.name, "function", s))
            elif isinstance(s, A.Def):
                out.append((s.name, "value", s))
            elif isinstance(s, A.Assign) and isinstance(s.target, A.Name):
                out.append((s.target.name, "value", s))
            elif isinstance(s, A.Use) and s.name:
                out.append((s.name, "module", s))
        return out

    def word_at(self, line: int, col: int) -> str:
        """The name (or `mod.name`) under a 0-based position, or ""."""
        text = self.lines[line] if line < len(self.lines) else ""
        for m in WORD.finditer(text):
            if m.start() <= col <= m.end():
                return m.group()
        return ""

    def module_file(self, name: str) -> Optional[Path]:
        """The file a `use name` of this document loads."""
        from stage0.paths import LIB_SUBDIRS, lib_root

        for d in [self.path.parent] + [lib_root() / s for s in LIB_SUBDIRS]:
            if (d / f"{name}.ilu").is_file():
                return d / f"{name}.ilu"
        return None

    def find(self, word: str) -> Optional[Found]:
        """Where word is defined: in this file, a `use`d module, or a member of one."""
        head, _, member = word.partition(".")
        if member:
            path = self.module_file(head) if head in {n for n, k, _ in self.top() if k == "module"} else None
            return _found_in(path, member) if path else None
        for name, kind, node in self.top():
            if name == word:
                if kind == "module":
                    path = self.module_file(name)
                    return Found(path, 0, 0, f"use {name}", _module_comment(path)) if path else None
                return Found(self.path, node.line - 1, node.col - 1, _signature(node, self.lines),
                             _comment_above(self.lines, node.line))
        return _builtin(word)

    def completions(self, line: int, col: int) -> list[tuple[str, str]]:
        """(label, kind) of what may be typed at a position: members after `mod.`, else names."""
        from stage0.host import all_builtins
        from stage0.values import RESERVED

        before = (self.lines[line] if line < len(self.lines) else "")[:col]
        m = re.search(r"([A-Za-z_]\w*)\.(\w*)$", before)
        if m:
            path = self.module_file(m.group(1))
            if path is None:
                return []
            from stage0.toolchain.doc import entries

            return [(e.name, "function" if e.is_fn else "value") for e in entries(path)[1]
                    if e.name.startswith(m.group(2))]
        names = [(n, k) for n, k, _ in self.top()]
        names += [(n, "builtin") for n in all_builtins() if not n.startswith("__")]
        names += [(n, "keyword") for n in sorted(RESERVED)]
        part = re.search(r"\w*$", before).group()  # type: ignore[union-attr]
        return [(n, k) for n, k in names if n.startswith(part)]


def _parse(text: str, file: str) -> Optional[A.Program]:
    """The seed parser's tree, or None for text with a syntax error."""
    from stage0.seedc.parser import parse

    try:
        return parse(text, file)
    except (CompileError, RecursionError):
        return None


def _comment_above(lines: list[str], line: int) -> str:
    from stage0.toolchain.doc import _comment_above as above

    return above(lines, line)


def _module_comment(path: Path) -> str:
    from stage0.toolchain.doc import module_comment

    return module_comment(path.read_text(encoding="utf-8").splitlines())


def _signature(node: A.Node, lines: list[str]) -> str:
    """`name(params)` of a function, or the first line of a value's definition."""
    if isinstance(node, A.FnDef):
        return f"{node.name}({', '.join(node.params)})"
    return lines[node.line - 1].strip() if node.line <= len(lines) else ""


def _found_in(path: Path, member: str) -> Optional[Found]:
    """A public name of another module file."""
    doc = Doc(path, path.read_text(encoding="utf-8"))
    for name, _, node in doc.top():
        if name == member and not name.startswith("_"):
            return Found(path, node.line - 1, node.col - 1, f"{path.stem}.{_signature(node, doc.lines)}",
                         _comment_above(doc.lines, node.line))
    return None


def _builtin(word: str) -> Optional[Found]:
    """A builtin, shown with its documentation (it has no source to go to)."""
    from stage0.host import all_builtins

    b = all_builtins().get(word)
    if b is None:
        return None
    import inspect

    fn: Any = getattr(b.fn, "__wrapped__", b.fn)
    arity = "..." if b.arity < 0 else str(b.arity)
    return Found(Path(), -1, 0, f"{word}/{arity} (builtin)", inspect.getdoc(fn) or "")


# ---- the server ----------------------------------------------------------------------------

def formatted(source: str, path: str) -> Optional[str]:
    """The document in `ilusm fmt`'s layout, or None when it does not parse (its diagnostics say why)."""
    from stage0.errors import IlusmError
    from stage0.toolchain.fmt import layout

    try:
        return layout(source, path)
    except IlusmError:
        return None


def end_of(text: str) -> tuple[int, int]:
    """The LSP position (line, UTF-16 column) just past the last character of text."""
    last = text.rsplit("\n", 1)[-1]
    return text.count("\n"), len(last.encode("utf-16-le")) // 2


def serve() -> None:
    """Run the language server on standard input and output until the client ends it.

    Longer than most functions here: pygls registers features as decorated functions, one
    short one per LSP request, and they share the server and `doc_of`; each only turns a `Doc`
    answer into protocol types."""
    from lsprotocol import types as T
    from pygls.lsp.server import LanguageServer

    from stage0 import __version__

    server = LanguageServer("ilusm", __version__)

    def doc_of(uri: str) -> Doc:
        d = server.workspace.get_text_document(uri)
        return Doc(Path(d.path), d.source)

    def check(uri: str) -> None:
        diags = [T.Diagnostic(range=T.Range(start=T.Position(line=ln, character=a),
                                            end=T.Position(line=ln, character=b)),
                              message=msg, severity=T.DiagnosticSeverity.Error, source="ilusm")
                 for ln, a, b, msg in doc_of(uri).errors()]
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=diags))

    @server.feature(T.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: Any, params: T.DidOpenTextDocumentParams) -> None:
        check(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: Any, params: T.DidChangeTextDocumentParams) -> None:
        check(params.text_document.uri)

    @server.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def symbols(ls: Any, params: T.DocumentSymbolParams) -> list[T.DocumentSymbol]:
        kinds = {"function": T.SymbolKind.Function, "value": T.SymbolKind.Variable, "module": T.SymbolKind.Module}
        out = []
        for name, kind, node in doc_of(params.text_document.uri).top():
            r = T.Range(start=T.Position(line=node.line - 1, character=node.col - 1),
                        end=T.Position(line=node.line - 1, character=node.col - 1 + len(name)))
            out.append(T.DocumentSymbol(name=name, kind=kinds[kind], range=r, selection_range=r))
        return out

    @server.feature(T.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: Any, params: T.DefinitionParams) -> Optional[T.Location]:
        d = doc_of(params.text_document.uri)
        f = d.find(d.word_at(params.position.line, params.position.character))
        if f is None or f.line < 0:
            return None
        pos = T.Position(line=f.line, character=f.col)
        return T.Location(uri=f.path.resolve().as_uri(), range=T.Range(start=pos, end=pos))

    @server.feature(T.TEXT_DOCUMENT_HOVER)
    def hover(ls: Any, params: T.HoverParams) -> Optional[T.Hover]:
        d = doc_of(params.text_document.uri)
        f = d.find(d.word_at(params.position.line, params.position.character))
        if f is None:
            return None
        text = f"```ilusm\n{f.signature}\n```" + (f"\n\n{f.comment}" if f.comment else "")
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))

    @server.feature(T.TEXT_DOCUMENT_COMPLETION, T.CompletionOptions(trigger_characters=["."]))
    def completion(ls: Any, params: T.CompletionParams) -> T.CompletionList:
        kinds = {"function": T.CompletionItemKind.Function, "value": T.CompletionItemKind.Variable,
                 "module": T.CompletionItemKind.Module, "builtin": T.CompletionItemKind.Function,
                 "keyword": T.CompletionItemKind.Keyword}
        found = doc_of(params.text_document.uri).completions(params.position.line, params.position.character)
        return T.CompletionList(is_incomplete=False,
                                items=[T.CompletionItem(label=n, kind=kinds[k]) for n, k in found])

    @server.feature(T.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: Any, params: T.DocumentFormattingParams) -> Optional[list[T.TextEdit]]:
        d = server.workspace.get_text_document(params.text_document.uri)
        new = formatted(d.source, d.path)
        if new is None or new == d.source:
            return None if new is None else []
        return [T.TextEdit(range=T.Range(start=T.Position(line=0, character=0), end=T.Position(*end_of(d.source))),
                           new_text=new)]

    import sys

    # the raw byte streams: the CLI wraps sys.stdout for ilusm programs' output
    out: Any = sys.__stdout__
    server.start_io(sys.stdin.buffer, out.buffer)
