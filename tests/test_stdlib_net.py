"""The HTTP client (`__http_*`, `net.get/post/put/patch/del/jget/jpost`) against a loopback server.

The server is a `ThreadingHTTPServer` on 127.0.0.1 with port 0 that this
test starts; it echoes what it received as JSON, so each test can check
the method, the path, the headers and the body the client sent. Programs
run in-process on the reference interpreter and the fast tier, the port
given as their first argument.
"""
from __future__ import annotations

import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from stage0.cli.commands import run_file
from stage0.host.caps import Policy


class Echo(BaseHTTPRequestHandler):
    """Replies with JSON describing the request; /status/N answers status N; /redirect goes to /."""

    def _reply(self) -> None:
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/after-redirect")
            self.end_headers()
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        code = int(self.path.split("/")[2]) if self.path.startswith("/status/") else 200
        data = json.dumps({"method": self.command, "path": self.path, "body": body,
                           "ctype": self.headers.get("Content-Type"), "x": self.headers.get("X-Test")}).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Reply", "yes")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _reply

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def run(tmp_path: Path, text: str, port: int, engine: str, grant: Policy | None = None) -> tuple[int, str, str]:
    """Run text as a program in tmp_path with the port as its argument (holding grant, when given)."""
    (tmp_path / "p.ilu").write_text(text)
    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        status = run_file("p.ilu", [str(port)], out, err, compiler="seed", engine=engine, grant=grant)
    finally:
        os.chdir(old)
    return status, out.getvalue(), err.getvalue()


PRELUDE = 'use net\nuse jsn\nbase = "http://127.0.0.1:" + __sys_args()[0]\n'
ENGINES = ["ref", "fast"]


@pytest.mark.parametrize("engine", ENGINES)
def test_get_gives_code_text_and_lowercase_headers(tmp_path: Path, port: int, engine: str) -> None:
    status, out, err = run(tmp_path, PRELUDE + 'r = net.get(base + "/a?b=1")\n'
                           'prn(r.cod, r.hdr["x-reply"], jsn.dec(r.txt).path, jsn.dec(r.txt).method)\n', port, engine)
    assert (status, out) == (0, "200 yes /a?b=1 GET\n"), err


@pytest.mark.parametrize("engine", ENGINES)
def test_headers_and_bodies_reach_the_server(tmp_path: Path, port: int, engine: str) -> None:
    text = PRELUDE + (
        'prn(jsn.dec(net.get_hdr(base, {"X-Test": "t1"}).txt).x)\n'
        'p = jsn.dec(net.post(base, "{\\"k\\": 1}").txt)\n'
        'prn(p.method, p.body, p.ctype)\n'
        'q = jsn.dec(net.post_hdr(base, "plain", {"Content-Type": "text/x-mine"}).txt)\n'
        'prn(q.ctype)\n'
        'prn(jsn.dec(__http_post(base, {}, "é").txt).ctype)\n'
        'prn(jsn.dec(__http_post(base, {}, __buf_from_str("b")).txt).ctype)\n'
        'prn(jsn.dec(net.put(base, "u").txt).method, jsn.dec(net.patch(base, "p").txt).method)\n'
        'prn(jsn.dec(net.del(base + "/x").txt).method)\n')
    status, out, err = run(tmp_path, text, port, engine)
    assert status == 0, err
    assert out == ('t1\nPOST {"k": 1} application/json\ntext/x-mine\ntext/plain; charset=utf-8\n'
                   'application/octet-stream\nPUT PATCH\nDELETE\n')


@pytest.mark.parametrize("engine", ENGINES)
def test_error_statuses_are_responses_and_json_helpers_raise_on_them(tmp_path: Path, port: int, engine: str) -> None:
    text = PRELUDE + ('prn(net.get(base + "/status/404").cod)\n'
                      'prn(net.jget(base + "/ok").method)\n'
                      'prn(net.jpost(base, {a: [1, 2]}, {"X-Test": "j"}).body)\n'
                      'prn(try(\\() net.jget(base + "/status/500")).err)\n'
                      'prn(net.get(base + "/redirect").cod, jsn.dec(net.get(base + "/redirect").txt).path)\n')
    status, out, err = run(tmp_path, text, port, engine)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[:3] == ["404", "GET", '{"a":[1,2]}']
    assert lines[3].startswith("HTTP 500: {")
    assert lines[4] == "200 /after-redirect"


@pytest.mark.parametrize("engine", ENGINES)
def test_refused_connections_are_errors(tmp_path: Path, port: int, engine: str) -> None:
    text = 'use net\nprn(__http_get("http://127.0.0.1:1/", {}))\nprn(try(\\() net.get("http://127.0.0.1:1/")).err)\n'
    status, out, err = run(tmp_path, text, port, engine)
    assert status == 0, err
    assert out == ('{err: "cannot fetch http://127.0.0.1:1/: Connection refused"}\n'
                   "cannot fetch http://127.0.0.1:1/: Connection refused\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_http_needs_the_net_capability(tmp_path: Path, port: int, engine: str) -> None:
    text = 'prn(try(\\() __http_get("http://127.0.0.1:1/", {})).err)\n'
    _, out, _ = run(tmp_path, text, port, engine, Policy(frozenset({"io"})))
    assert out == "capability 'net' is not granted (needed by __http_get)\n"
