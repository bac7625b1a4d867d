"""TCP and HTTP builtins (`__sys_tcp_*`, `__http_*`): all need the `net` capability.

Sockets and listeners live in the calling VM's handle table. Text crosses as
UTF-8; each socket keeps an incremental decoder, so a multi-byte character
split between two packets is held back and `""` from `__sys_tcp_recv` only
ever means the end of the stream. HTTP goes through urllib with no proxy
from the environment and only the http and https schemes (urllib would also
open `file://` and walk around the file sandbox). A 4xx or 5xx status is a
response, not a failure.
"""
from __future__ import annotations

import codecs
import select
import socket
from typing import Any

from stage0.errors import RuntimeErr
from stage0.host.core import utf8, want, want_int
from stage0.host.registry import HostContext, builtin, error_value

CONNECT_TIMEOUT = 10.0   # seconds, for __sys_tcp_dial
HTTP_TIMEOUT = 30.0      # seconds, for each HTTP request
RECV_MAX = 65536         # bytes read per __sys_tcp_recv
MAX_REDIRECTS = 10


class Sock:
    """A connected socket with its UTF-8 decoder."""

    def __init__(self, s: socket.socket) -> None:
        self.s = s
        self.text = codecs.getincrementaldecoder("utf-8")("replace")

    def close(self) -> None:
        """Close the socket."""
        self.s.close()


def _data(name: str, data: Any) -> bytes:
    """The bytes to send: a str's UTF-8 or a buf's bytes."""
    if type(want(name, data, "str", "buf")) is str:
        return utf8(name, data)
    return bytes(data)


def _port(name: str, port: Any, lo: int = 1) -> int:
    """A port number from lo to 65535; anything else is misuse."""
    p = want_int(name, port)
    if not lo <= p <= 65535:
        raise RuntimeErr(f"{name} expects a port from {lo} to 65535, got {p}")
    return p


def _ms(name: str, ms: Any) -> float:
    """A non-negative timeout in milliseconds, as seconds."""
    if not isinstance(ms, (int, float)) or isinstance(ms, bool) or not ms >= 0:
        raise RuntimeErr(f"{name} expects a non-negative timeout in milliseconds")
    return min(float(ms), 1e9) / 1000


def _reason(e: BaseException) -> str:
    """An OS error's reason without Python's decoration."""
    if isinstance(e, socket.timeout):
        return "timed out"
    reason = getattr(e, "reason", None)  # urllib wraps the OS error
    if isinstance(reason, BaseException) and reason is not e:
        return _reason(reason)
    if isinstance(e, OSError) and e.strerror:
        return e.strerror
    return str(reason if reason is not None else e)


# ---- TCP ---------------------------------------------------------------------------


@builtin("__sys_tcp_dial", 2, cap="net")
def tcp_dial(ctx: HostContext, host: Any, port: Any) -> int | dict[str, Any]:
    """Connect to host:port; a socket handle, or {err}."""
    address = (want("__sys_tcp_dial", host, "str"), _port("__sys_tcp_dial", port))
    try:
        s = socket.create_connection(address, timeout=CONNECT_TIMEOUT)
    except (OSError, UnicodeError) as e:
        return error_value(f"cannot connect to {host}:{address[1]}: {_reason(e)}")
    s.settimeout(None)
    return int(ctx.handles.add("sock", Sock(s)))


@builtin("__sys_tcp_send", 2, cap="net")
def tcp_send(ctx: HostContext, h: Any, data: Any) -> dict[str, Any] | None:
    """Send all of a str (as UTF-8) or a buf; nil or {err}."""
    sock = ctx.handles.get("__sys_tcp_send", h, "sock")
    try:
        sock.s.sendall(_data("__sys_tcp_send", data))
    except OSError as e:
        return error_value(f"cannot send: {_reason(e)}")
    return None


@builtin("__sys_tcp_recv", 2, cap="net")
def tcp_recv(ctx: HostContext, h: Any, timeout: Any) -> str | dict[str, Any]:
    """Up to 64 KiB of text, waiting at most `timeout` ms; "" at the end of the stream;
    {err, timeout: tru} when nothing came in time."""
    sock = ctx.handles.get("__sys_tcp_recv", h, "sock")
    wait = _ms("__sys_tcp_recv", timeout)
    while True:
        try:
            ready, _, _ = select.select([sock.s], [], [], wait)
            if not ready:
                return {"err": f"timeout after {fmt_ms(timeout)} ms", "timeout": True}
            chunk = sock.s.recv(RECV_MAX)
        except (OSError, ValueError) as e:
            return error_value(f"cannot receive: {_reason(e)}")
        text = sock.text.decode(chunk, final=not chunk)
        if text or not chunk:  # a chunk that ends inside a character waits for the rest
            return text


def fmt_ms(ms: Any) -> str:
    """A timeout as the user wrote it (5, not 5.0)."""
    return str(int(ms)) if float(ms).is_integer() else str(ms)


@builtin("__sys_tcp_close", 1, cap="net")
def tcp_close(ctx: HostContext, h: Any) -> None:
    """Close a socket or a listener (closing twice is fine)."""
    obj = ctx.handles.drop(h)
    if obj is not None:
        obj.close()


@builtin("__sys_tcp_listen", 1, cap="net")
def tcp_listen(ctx: HostContext, addr: Any) -> int | dict[str, Any]:
    """Listen on "host:port" (port 0 picks a free one); a listener handle, or {err}."""
    host, _, port = want("__sys_tcp_listen", addr, "str").rpartition(":")
    if not host or not port.isdigit():
        raise RuntimeErr(f"__sys_tcp_listen expects \"host:port\", got {addr!r}")
    try:
        s = socket.create_server((host, _port("__sys_tcp_listen", int(port), 0)))
    except (OSError, UnicodeError) as e:
        return error_value(f"cannot listen on {addr}: {_reason(e)}")
    return int(ctx.handles.add("listener", s))


@builtin("__sys_tcp_accept", 2, cap="net")
def tcp_accept(ctx: HostContext, h: Any, timeout: Any) -> int | dict[str, Any]:
    """The next connection on a listener as a socket handle; {err, timeout: tru} after `timeout` ms."""
    listener = ctx.handles.get("__sys_tcp_accept", h, "listener")
    try:
        ready, _, _ = select.select([listener], [], [], _ms("__sys_tcp_accept", timeout))
        if not ready:
            return {"err": f"timeout after {fmt_ms(timeout)} ms", "timeout": True}
        s, _ = listener.accept()
    except (OSError, ValueError) as e:
        return error_value(f"cannot accept: {_reason(e)}")
    s.settimeout(None)
    return int(ctx.handles.add("sock", Sock(s)))


@builtin("__sys_tcp_port", 1, cap="net")
def tcp_port(ctx: HostContext, h: Any) -> int:
    """The local port a listener or socket is bound to."""
    kind = ctx.handles.table.get(h, ("", None))[0] if type(h) is int else ""
    obj = ctx.handles.get("__sys_tcp_port", h, "sock" if kind == "sock" else "listener")
    return int((obj.s if kind == "sock" else obj).getsockname()[1])


# ---- HTTP --------------------------------------------------------------------------


def _headers(name: str, hdrs: Any) -> dict[str, str]:
    """Request headers from an obj of str values."""
    return {k: want(name, v, "str") for k, v in want(name, hdrs, "obj").items()}


def _opener() -> Any:
    """A urllib opener with no proxies and only http and https."""
    import urllib.request

    class Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

    handlers = [urllib.request.ProxyHandler({}), urllib.request.HTTPHandler(), urllib.request.HTTPSHandler(),
                urllib.request.HTTPDefaultErrorHandler(), Redirects(), urllib.request.HTTPErrorProcessor()]
    opener = urllib.request.OpenerDirector()
    for handler in handlers:
        opener.add_handler(handler)
    return opener


def request(name: str, method: str, url: Any, hdrs: Any, body: Any) -> dict[str, Any]:
    """Send one HTTP request; {cod, txt, hdr} (also for a 4xx or 5xx status) or {err}."""
    import urllib.error
    import urllib.request

    want(name, url, "str")
    headers = _headers(name, hdrs)
    data = None if body is None else _data(name, body)
    if data is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = "text/plain; charset=utf-8" if type(body) is str else "application/octet-stream"
    if not url.lower().startswith(("http://", "https://")):
        return error_value(f"cannot fetch {url}: only http and https URLs are supported")
    try:
        req = urllib.request.Request(url, data=data, headers=headers, method=method)
        with _opener().open(req, timeout=HTTP_TIMEOUT) as resp:
            return _response(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        with e:
            return _response(e.code, e.headers, e.read())
    except (urllib.error.URLError, OSError, ValueError, UnicodeError) as e:
        return error_value(f"cannot fetch {url}: {_reason(e)}")


def _response(code: int, headers: Any, body: bytes) -> dict[str, Any]:
    """The response object: status, body text (UTF-8, invalid bytes replaced), lower-case headers."""
    hdr = {k.lower(): v for k, v in headers.items()} if headers is not None else {}
    return {"cod": code, "txt": body.decode("utf-8", errors="replace"), "hdr": hdr}


@builtin("__http_get", 2, cap="net")
def http_get(ctx: HostContext, url: Any, hdrs: Any) -> dict[str, Any]:
    """GET url with headers; {cod, txt, hdr} or {err}."""
    return request("__http_get", "GET", url, hdrs, None)


@builtin("__http_post", 3, cap="net")
def http_post(ctx: HostContext, url: Any, hdrs: Any, body: Any) -> dict[str, Any]:
    """POST a str or buf body; {cod, txt, hdr} or {err}."""
    return request("__http_post", "POST", url, hdrs, want("__http_post", body, "str", "buf"))


@builtin("__http_req", 4, cap="net")
def http_req(ctx: HostContext, method: Any, url: Any, hdrs: Any, body: Any) -> dict[str, Any]:
    """Any method (GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS) with an optional body (nil: none)."""
    verb = want("__http_req", method, "str").upper()
    if verb not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        raise RuntimeErr(f"__http_req: unknown method {method!r}")
    return request("__http_req", verb, url, hdrs, None if body is None else want("__http_req", body, "str", "buf"))
