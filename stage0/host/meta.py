"""Builtins about the host itself, for ilusm code that runs ilusm code.

The self-hosted VM (lib/backend/ilusm_vm.ilu) keeps its own frames,
closures, modules and errors, but a guest program's values are host values
and its builtins are the host's. What that VM cannot write in ilusm alone
is here: reaching a builtin by name and calling it with a list of
arguments (`__host_builtin`, `__host_apply`: the call goes through the
registered `fn`, so a capability check holds as on every other path); a
value of type fn that stands for one of its closures (`__vm_fn`,
`__vm_fn_data`); the field and range rules with their exact messages
(`__vm_field`, `__vm_set_field`, `__vm_range`, `__vm_undefined`, `__vm_arity`); and
ending the program with the guest's own trace (`__vm_fail`), which the CLI
prints as it prints the reference interpreter's.
"""
from __future__ import annotations

from typing import Any

from stage0.errors import RuntimeErr, TailCalls, arity_message
from stage0.hints import undefined_name
from stage0.host.core import want, want_int
from stage0.host.registry import REGISTRY, HostContext, builtin
from stage0.values import GuestFn, get_field, locals_text, make_range, set_field, to_str


@builtin("__host_builtin", 1)
def host_builtin(ctx: HostContext, name: Any) -> Any:
    """The host builtin named `name` as a callable value, or nil when there is none."""
    return REGISTRY.get(want("__host_builtin", name, "str"))


@builtin("__host_apply", 2)
def host_apply(ctx: HostContext, f: Any, args: Any) -> Any:
    """Call `f` with the elements of the list `args` (arity and `cannot call` errors as a call's)."""
    return ctx.call(f, list(want("__host_apply", args, "lst")))


@builtin("__vm_fn", 3)
def vm_fn(ctx: HostContext, name: Any, arity: Any, data: Any) -> GuestFn:
    """A value of type fn named `name` with `arity` parameters, carrying `data` for its VM."""
    return GuestFn(want("__vm_fn", name, "str"), want("__vm_fn", arity, "num"), data)


@builtin("__vm_fn_data", 1)
def vm_fn_data(ctx: HostContext, f: Any) -> Any:
    """The data of a value made by __vm_fn; nil for any other value."""
    return f.data if type(f) is GuestFn else None


@builtin("__vm_field", 2)
def vm_field(ctx: HostContext, o: Any, name: Any) -> Any:
    """`o.name`, with the reference's error for a non-object."""
    return o.get(name) if type(o) is dict else get_field(o, name)


@builtin("__vm_set_field", 3)
def vm_set_field(ctx: HostContext, o: Any, name: Any, x: Any) -> Any:
    """`o.name = x` in place; gives o."""
    set_field(o, name, x)
    return o


@builtin("__vm_range", 2)
def vm_range(ctx: HostContext, lo: Any, hi: Any) -> list[int]:
    """[first, stop, step] of the integers lo..hi, as a range loop counts them."""
    r = make_range(lo, hi)
    return [r.start, r.stop, r.step]


@builtin("__vm_undefined", 1)
def vm_undefined(ctx: HostContext, name: Any) -> str:
    """The message for reading a name bound nowhere (with its hint)."""
    return undefined_name(want("__vm_undefined", name, "str"))


@builtin("__vm_arity", 3)
def vm_arity(ctx: HostContext, name: Any, want_n: Any, got: Any) -> str:
    """The message for a call of `name`, which takes want_n arguments, with got of them."""
    return arity_message(to_str(name), want_int("__vm_arity", want_n), want_int("__vm_arity", got))


@builtin("__vm_fail", 2)
def vm_fail(ctx: HostContext, message: Any, sites: Any) -> None:
    """Raise the runtime error `message` with the trace `sites`, outermost first: [name, file, line]
    (and the locals text) per frame, a number N between them where N tail calls removed frames."""
    e = RuntimeErr(to_str(message))
    e.trace = [TailCalls(int(s)) if isinstance(s, (int, float))
               else (str(s[0]), str(s[1]), int(s[2]), *(str(x) for x in s[3:4]))
               for s in want("__vm_fail", sites, "lst")]
    raise e


@builtin("__vm_callback", 2)
def vm_callback(ctx: HostContext, call: Any, reflect: Any) -> None:
    """Register how builtins reach the functions of a VM written in ilusm (GuestFn values):
    call(f, args) calls one back (sbx.run, rfl.apply); reflect(f) (or nil) gives
    {name, arity, upvals, file, line} of one (rfl)."""
    ctx.guest_call = lambda f, args: ctx.call(call, [f, list(args)])
    ctx.guest_reflect = None if reflect is None else (lambda f: ctx.call(reflect, [f]))


@builtin("__host_caps", 0)
def host_caps(ctx: HostContext) -> list[str]:
    """Every capability name the host knows (registry.CAPS), for the compilers' `# @requires` check."""
    from stage0.host.registry import CAPS

    return list(CAPS)


@builtin("__vm_trace_locals", 0)
def vm_trace_locals(ctx: HostContext) -> bool:
    """Whether traces show each frame's locals (`ilusm run --locals`)."""
    return bool(getattr(ctx, "show_locals", False))


@builtin("__vm_locals_text", 1)
def vm_locals_text(ctx: HostContext, pairs: Any) -> str:
    """The locals line of a trace for [[name, value], ...], as every engine writes it (values.locals_text)."""
    return locals_text([(str(n), v) for n, v in want("__vm_locals_text", pairs, "lst")])
