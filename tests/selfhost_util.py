"""Test-only helpers for the self-hosted toolchain: seed ASTs as ilusm objects, `__dev_parse`.

Until lib/frontend/prs.ilu exists, tests of the self-hosted back end parse
with the seed parser through the host builtin `__dev_parse(src, file)`,
which exists only in tests: `register_dev_parse(vm)` adds it to one VM's
builtins (never to stage0/host). Its AST is what prs.ilu builds: objects
tagged `t` with the dataclass field names of stage0/syntax.py, then
`line` and `col`. A syntax error follows the diag protocol of
lib/frontend/diag.ilu: `diag.fail(kind, msg, line, col)` records it and
raises it as a runtime error.
"""
from __future__ import annotations

import dataclasses
import io
from typing import Any, Optional

from stage0 import syntax as A
from stage0.errors import CompileError, RuntimeErr
from stage0.image.model import Image
from stage0.interp.loader import ModuleRT
from stage0.seedc.parser import parse
from stage0.values import Builtin

DIAG_KEY = "lib/frontend/diag.ilu"


def to_ilusm(node: Any) -> Any:
    """A seed AST (node, list or scalar) as ilusm values: dicts with "t" first, then fields, line, col."""
    if isinstance(node, list):
        return [to_ilusm(x) for x in node]
    if isinstance(node, A.Node):
        out: dict[str, Any] = {"t": type(node).__name__}
        for f in dataclasses.fields(node):
            if f.name not in ("line", "col"):
                out[f.name] = to_ilusm(getattr(node, f.name))
        out["line"] = node.line
        out["col"] = node.col
        return out
    return node


def diag_fail(vm: Any) -> Optional[Any]:
    """The `fail` function of the image's diag module (running the module first if needed), or None."""
    for i, m in enumerate(vm.modules):
        if m.key == DIAG_KEY:
            if m.state != ModuleRT.DONE:
                vm.import_module(i)
            return m.globals.get("fail")
    return None


def dev_parse(vm: Any, src: Any, file: Any) -> Any:
    """`__dev_parse(src, file)`: the seed parser's AST as ilusm objects; syntax errors via diag.fail."""
    if type(src) is not str or type(file) is not str:
        raise RuntimeErr("__dev_parse expects a str source and a str file name")
    try:
        prog = parse(src, file)
    except CompileError as e:
        fail = diag_fail(vm)
        if fail is not None:
            vm.call(fail, [e.kind, e.message, e.line, e.col])
        raise RuntimeErr(e.message) from None
    return to_ilusm(prog)


def register_dev_parse(vm: Any) -> None:
    """Give this VM (only) the builtin `__dev_parse`; the shared registry stays untouched."""
    vm.builtins = dict(vm.builtins)
    vm.builtins["__dev_parse"] = Builtin("__dev_parse", 2, dev_parse)
    ns = getattr(vm, "ns", None)
    if isinstance(ns, dict):  # the fast tier binds the builtins table at construction
        ns["BI"] = vm.builtins


def run_image(image: Image, args: list[str], engine: str = "ref") -> tuple[int, str, str]:
    """Run an image's entry module with __dev_parse available; (exit status, stdout, stderr)."""
    from stage0.cli.proc import guarded, in_big_stack
    from stage0.interp.vm import VM

    out, err = io.StringIO(), io.StringIO()

    def go() -> int:
        cls: Any = VM
        if engine == "fast":
            from stage0.fast.vm import FastVM

            cls = FastVM
        vm = cls(image, args=args, out=out, err_out=err)
        register_dev_parse(vm)
        vm.run_main()
        return 0

    status = in_big_stack(lambda: guarded(go, err))
    return status, out.getvalue(), err.getvalue()
