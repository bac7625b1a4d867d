"""`ilusm lsp` end to end: a scripted client speaks JSON-RPC to the server over pipes, as an editor does."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


class Client:
    """A minimal LSP client: framed JSON-RPC over the server's stdin and stdout."""

    def __init__(self, cwd: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "stage0", "lsp"], cwd=cwd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.next_id = 0
        self.notes: list[dict[str, Any]] = []

    def send(self, msg: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **msg}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        self.proc.stdin.flush()

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        length = 0
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("the server closed its output")
            if line in (b"\r\n", b"\n"):
                break
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return json.loads(self.proc.stdout.read(length))  # type: ignore[no-any-return]

    def request(self, method: str, params: dict[str, Any]) -> Any:
        self.next_id += 1
        self.send({"id": self.next_id, "method": method, "params": params})
        while True:
            msg = self.read()
            if msg.get("id") == self.next_id and "method" not in msg:
                return msg.get("result")
            if "method" in msg and "id" not in msg:
                self.notes.append(msg)

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self.send({"method": method, "params": params})

    def diagnostics(self, uri: str) -> list[dict[str, Any]]:
        """The next diagnostics published for uri."""
        while True:
            for i, n in enumerate(self.notes):
                if n["method"] == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri:
                    return self.notes.pop(i)["params"]["diagnostics"]  # type: ignore[no-any-return]
            msg = self.read()
            if "method" in msg and "id" not in msg:
                self.notes.append(msg)


SOURCE = """\
# main: the program.
use txt
use "helper.ilu"

# twice(x): x times two.
twice(x) = x * 2
total = twice(21) + helped(1)
prn txt.up("a")
"""


@pytest.fixture
def session(tmp_path: Path) -> Any:
    (tmp_path / "helper.ilu").write_text("# helped(n): n plus one.\nhelped(n) = n + 1\n")
    c = Client(tmp_path)
    c.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
    c.notify("initialized", {})
    uri = (tmp_path / "main.ilu").as_uri()
    c.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "ilusm", "version": 1,
                                                       "text": SOURCE}})
    yield c, uri, tmp_path
    c.request("shutdown", {})
    c.notify("exit", {})
    c.proc.wait(timeout=30)
    for pipe in (c.proc.stdin, c.proc.stdout):
        if pipe is not None:
            pipe.close()


def at(uri: str, line: int, col: int) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": col}}


def test_diagnostics_follow_the_text(session: Any) -> None:
    c, uri, _ = session
    assert c.diagnostics(uri) == []
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": "x = (\n"}]})
    [d] = c.diagnostics(uri)
    assert d["message"] == "syntax error: unclosed '('" and d["range"]["start"] == {"line": 0, "character": 4}
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                        "contentChanges": [{"text": "def k = 1\nk = 2\n"}]})
    [d] = c.diagnostics(uri)
    assert d["message"] == "error: cannot assign to constant 'k'" and d["range"]["start"]["line"] == 1


def test_symbols_definition_hover_completion(session: Any) -> None:
    c, uri, root = session
    names = [(s["name"], s["kind"]) for s in c.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})]
    assert names == [("txt", 2), ("twice", 12), ("total", 13)]
    loc = c.request("textDocument/definition", at(uri, 6, 9))
    assert loc["uri"] == uri and loc["range"]["start"] == {"line": 5, "character": 0}
    loc = c.request("textDocument/definition", at(uri, 7, 6))
    assert loc["uri"].endswith("lib/stdlib/txt.ilu")
    hover = c.request("textDocument/hover", at(uri, 6, 9))["contents"]["value"]
    assert "twice(x)" in hover and "x times two." in hover
    hover = c.request("textDocument/hover", at(uri, 7, 6))["contents"]["value"]
    assert "txt.up(s)" in hover
    items = [i["label"] for i in c.request("textDocument/completion", at(uri, 7, 8))["items"]]
    assert "up" in items and "spl" in items
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": SOURCE + "tw"}]})
    items = [i["label"] for i in c.request("textDocument/completion", at(uri, 8, 2))["items"]]
    assert items == ["twice"]


def test_formatting_is_ilusm_fmt(session: Any) -> None:
    c, uri, _ = session
    messy = "x=1+2 # why\nif x>2 :   prn 'big'\n\n\n# end"
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 2},
                                        "contentChanges": [{"text": messy}]})
    fmt = {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}}
    [edit] = c.request("textDocument/formatting", fmt)
    assert edit["range"] == {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 5}}
    assert edit["newText"] == "x = 1 + 2  # why\nif x > 2: prn 'big'\n\n# end\n"
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 3},
                                        "contentChanges": [{"text": edit["newText"]}]})
    assert c.request("textDocument/formatting", fmt) == []
    c.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 4},
                                        "contentChanges": [{"text": "x = (\n"}]})
    assert c.request("textDocument/formatting", fmt) is None  # it does not parse: left alone
