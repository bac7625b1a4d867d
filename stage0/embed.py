"""The Python half of `libilusm.so`: one ilusm session that a C program drives (docs/embedding.md).

`embed/libilusm.c` starts CPython once and calls a `Session` for each C API
call, always getting back `(status, text)`: status 0 ok (text is the result
as JSON), 1 a runtime error, 2 a compile error (text is what `ilusm run`
would print), 3 the script called `sys.exit` (text is the status; the host
program is not ended). Values cross as JSON: numbers, strings, booleans,
nil, lists and objects map directly, a buf is `{"$buf": "hex"}`, and a
function cannot cross.

A session keeps its globals across `eval`, `run_file` and `call`, as the REPL
does: each piece of code runs as a new entry module over the same globals
dict. Snippets are compiled by the seed compiler (fast to start), files by
the self-hosted toolchain (as `ilusm run` does). Each call runs on a
big-stack worker thread, so deep recursion cannot crash the host program.
"""
from __future__ import annotations

import ctypes
import io
import json
import sys
from pathlib import Path
from typing import Any, Callable

from stage0 import __version__
from stage0.errors import CompileError, IlusmError
from stage0.host.caps import Policy, parse_caps
from stage0.host.registry import DEFAULT_CAPS
from stage0.values import Builtin, Closure, GuestFn

OK, ERROR, COMPILE_ERROR, EXIT = 0, 1, 2, 3
SNIPPET = "<embed>.ilu"
HostFn = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)


def to_json(v: Any) -> Any:
    """An ilusm value as plain JSON data; a function cannot cross."""
    t = type(v)
    if t is bytearray:
        return {"$buf": v.hex()}
    if t is list:
        return [to_json(x) for x in v]
    if t is dict:
        return {k: to_json(x) for k, x in v.items()}
    if t in (Closure, Builtin, GuestFn):
        raise ValueError(f"a fn ({v.name}) cannot be passed to C")
    return v


def from_json(v: Any) -> Any:
    """JSON data as ilusm values ({"$buf": hex} becomes a buf)."""
    if type(v) is dict:
        if set(v) == {"$buf"} and type(v["$buf"]) is str:
            return bytearray.fromhex(v["$buf"])
        return {k: from_json(x) for k, x in v.items()}
    if type(v) is list:
        return [from_json(x) for x in v]
    return v


class Session:
    """An ilusm session for one `ilusm *` of the C API."""

    def __init__(self, caps: str | None = None) -> None:
        held = DEFAULT_CAPS if caps is None else parse_caps(caps, "ilusm_new")
        self.policy = Policy(frozenset(held | {"io"}))
        self.globals: dict[str, Any] = {}
        self.loaded: dict[str, Any] = {}   # module key -> export, modules already run
        self.vms: list[Any] = []           # kept so their handles close with the session

    def _run(self, work: Callable[[], Any]) -> tuple[int, str]:
        """Run work on a big-stack thread; (status, text) as the C API returns it."""
        from stage0.cli.proc import in_big_stack

        box: dict[str, Any] = {}
        err = io.StringIO()

        def go() -> int:
            try:
                box["value"] = work()
            except SystemExit as e:
                box["exit"] = e.code if isinstance(e.code, int) else 0
                return 0
            except (IlusmError, KeyboardInterrupt) as e:
                box["kind"] = COMPILE_ERROR if isinstance(e, CompileError) else ERROR
                box["error"] = e.render() if isinstance(e, IlusmError) else "error: interrupted"
                return 1
            return 0

        in_big_stack(lambda: _guard(go, err))
        sys.stdout.flush()
        if "exit" in box:
            return EXIT, str(box["exit"])
        if "error" in box:
            return box["kind"], box["error"]
        if "value" not in box:
            return ERROR, err.getvalue().strip() or "error: internal error"
        try:
            return OK, json.dumps(to_json(box["value"]), ensure_ascii=False, allow_nan=False)
        except ValueError as e:
            return ERROR, f"error: {e}"

    def _execute(self, image: Any) -> Any:
        """Run an image's entry module over the session's globals; the value of `_` it left."""
        from stage0.fast.vm import FastVM
        from stage0.interp.loader import ModuleRT

        vm = FastVM(image, max_depth=10_000, caps=self.policy.caps, fs_root=self.policy.fs_root)
        self.vms.append(vm)
        vm.modules[image.entry].globals = self.globals
        for m in vm.modules:
            if m.key in self.loaded and m is not vm.modules[image.entry]:
                m.state, m.export = ModuleRT.DONE, self.loaded[m.key]
        self._adopt(vm)
        self.globals.pop("_", None)
        try:
            vm.run_main()
        finally:
            self.loaded.update((m.key, m.export) for m in vm.modules
                               if m.state == ModuleRT.DONE and m is not vm.modules[image.entry])
        return self.globals.get("_")

    def _adopt(self, vm: Any) -> None:
        """Let vm call every function earlier entries made: the session's globals and every
        module's, private helpers included (their functions call them)."""
        vm.adopt_reachable([self.globals, *(m.globals for old in self.vms for m in old.modules)])

    def eval(self, src: str) -> tuple[int, str]:
        """Run a snippet; the value of its last expression (null when it ends in a statement)."""
        def work() -> Any:
            from stage0.cli.repl import parse_entry
            from stage0.image import ilbc
            from stage0.seedc.driver import compile_file

            compiled = compile_file(Path.cwd() / SNIPPET, parse=_entry_parser(parse_entry), source=src + "\n")
            return self._execute(ilbc.read(ilbc.write(compiled, verify=False)))

        return self._run(work)

    def run_file(self, path: str) -> tuple[int, str]:
        """Run a program file with the self-hosted toolchain; its functions stay callable."""
        def work() -> Any:
            from stage0.toolchain.programs import load_program

            image, _ = load_program(path, "self")
            self._execute(image)
            return None

        return self._run(work)

    def call(self, name: str, args_json: str) -> tuple[int, str]:
        """Call a function the session's code defined, with a JSON list of arguments."""
        def work() -> Any:
            from stage0.errors import RuntimeErr
            from stage0.fast.vm import FastVM

            f = self.globals.get(name)
            if f is None:
                raise RuntimeErr(f"no function named {name!r} in this session")
            try:
                args = from_json(json.loads(args_json or "[]"))
            except ValueError as e:
                raise RuntimeErr(f"the arguments are not JSON: {e}") from None
            if type(args) is not list:
                raise RuntimeErr("the arguments must be a JSON list")
            vm = self.vms[-1] if self.vms else FastVM(_empty_image(), caps=self.policy.caps)
            self._adopt(vm)
            return vm.call(f, args)

        return self._run(work)

    def register(self, name: str, arity: int, fn: int, ud: int) -> int:
        """Make the C function fn(ud, args_json) -> malloc'd JSON callable from ilusm as `name`."""
        c_fn = HostFn(fn)
        libc = ctypes.CDLL(None)
        libc.free.argtypes = [ctypes.c_void_p]

        def call(ctx: Any, *args: Any) -> Any:
            from stage0.errors import RuntimeErr

            raw = c_fn(ud, json.dumps(to_json(list(args))).encode("utf-8"))
            if not raw:
                raise RuntimeErr(f"{name} (a C function) gave no result")
            try:
                text = ctypes.string_at(raw).decode("utf-8", "replace")
            finally:
                libc.free(raw)
            try:
                return from_json(json.loads(text))
            except ValueError:
                raise RuntimeErr(f"{name} (a C function) did not return JSON: {text[:60]!r}") from None

        self.globals[name] = Builtin(name, arity, call, None)
        return 0

    def close(self) -> None:
        """Close what the session's programs opened (sockets, processes, libraries)."""
        for vm in self.vms:
            vm.handles.close_all()
        self.vms.clear()


def _guard(go: Callable[[], int], err: io.StringIO) -> int:
    """`guarded` with its messages kept for the caller (a host bug still gives text, never a crash)."""
    from stage0.cli.proc import guarded

    return guarded(go, err)


def _entry_parser(parse_entry: Callable[..., Any]) -> Callable[[str, str], Any]:
    """Parse the snippet as a REPL entry (its last expression kept in `_`), modules it uses plainly."""
    from stage0.seedc.parser import parse as plain

    first: list[bool] = []

    def parse(source: str, file: str) -> Any:
        if first:
            return plain(source, file)
        first.append(True)
        return parse_entry(source, file)

    return parse


def _empty_image() -> Any:
    """An image with an empty module, for a VM that only calls functions back."""
    from stage0.image import ilbc
    from stage0.seedc.driver import compile_file

    return ilbc.read(ilbc.write(compile_file(Path.cwd() / SNIPPET, source="\n")))


def version() -> str:
    """The ilusm version the library embeds."""
    return __version__
