"""The disassembler: an Image as readable text, for `ilusm dis` and for debugging.

Functions are grouped by the module that creates them (the module's main
function, then everything reachable from it through MAKE_CLOSURE), each group
in function-index order. Every instruction shows its offset, its name and its
operands decoded against the image; a `; line N` note marks each change of
source line, followed by the text of that line when the caller passes the
module's source. The output depends only on its arguments.
"""
from __future__ import annotations

from stage0 import isa
from stage0.image.model import Image
from stage0.image.verify import decode
from stage0.values import fmt_num, quote

_NAME_WIDTH = max(len(op.name) for op in isa.TABLE) + 2
# Where each opcode that names a function (MAKE_CLOSURE) has that operand.
_FUNC_AT = {op.code: op.role_at("func") for op in isa.TABLE if "func" in op.roles}


def disassemble(image: Image, sources: dict[str, str] | None = None) -> str:
    """The whole image: one block per module, one paragraph per function."""
    owner_of = owners(image)
    out: list[str] = []
    for m, mod in enumerate(image.modules):
        entry = "  [entry]" if m == image.entry else ""
        declared = "".join(f"  {word}: {', '.join(_name(image, c) for c in caps)}"
                           for word, caps in (("requires", mod.requires), ("uses", mod.uses)) if caps)
        out.append(f"module {_name(image, mod.name)}  ({_name(image, mod.file)}){entry}{declared}")
        for f, owner in enumerate(owner_of):
            if owner == m:
                out += ["", _func_text(image, f, _name(image, mod.file), sources)]
        out.append("")
    orphans = [f for f, owner in enumerate(owner_of) if owner is None]
    if orphans:
        out.append("functions outside every module")
        for f in orphans:
            out += ["", _func_text(image, f, "?", sources)]
        out.append("")
    return "\n".join(out)


def disassemble_func(image: Image, index: int, sources: dict[str, str] | None = None) -> str:
    """One function of the image: its header line and its instructions."""
    owner = owners(image)[index]
    file = "?" if owner is None else _name(image, image.modules[owner].file)
    return _func_text(image, index, file, sources) + "\n"


def owners(image: Image) -> list[int | None]:
    """For each function, the first module (in table order) whose main reaches it."""
    found: list[int | None] = [None] * len(image.funcs)
    for m, mod in enumerate(image.modules):
        work = [mod.main]
        while work:
            f = work.pop()
            if not 0 <= f < len(found) or found[f] is not None:
                continue
            found[f] = m
            work += [args[_FUNC_AT[code]] for _, code, args in decode(image.funcs[f].code) if code in _FUNC_AT]
    return found


def _func_text(image: Image, index: int, file: str, sources: dict[str, str] | None) -> str:
    """Header line, then one line per instruction with line notes where the line changes."""
    func = image.funcs[index]
    head = f"fn {_name(image, func.name)}/{func.arity}  locals={func.nlocals} upvals={len(func.upvals)}  ({file})"
    source_lines = sources[file].splitlines() if sources and file in sources else None
    line_at = dict(func.lines)
    out, line = [head], None
    for off, name, operands in _instructions(image, index):
        new = line_at.get(off, line)
        if new != line and new is not None:
            out.append(_line_note(new, source_lines))
        line = new
        out.append(f"{off:04d}  {name:<{_NAME_WIDTH - 1}} {operands}".rstrip())
    return "\n".join(out)


def instruction_texts(image: Image, index: int) -> list[tuple[int, str]]:
    """Each instruction of function `index` as (byte offset, `NAME OPERANDS`), as the listing shows it.

    `--trace` prints these, so a traced line reads like the `dis` line it stands for.
    """
    return [(off, f"{name} {operands}".rstrip()) for off, name, operands in _instructions(image, index)]


def _instructions(image: Image, index: int) -> list[tuple[int, str, str]]:
    """(byte offset, shown name, shown operands) of each instruction of function `index`."""
    code = image.funcs[index].code
    instrs = decode(code)
    ends = [off for off, _, _ in instrs[1:]] + [len(code)]
    out = []
    for (off, opcode, args), end in zip(instrs, ends):
        op = isa.BY_CODE[opcode]
        name = op.name if end - off == op.size else "WIDE " + op.name  # the prefix was folded in
        out.append((off, name, _operands(image, op, off, args)))
    return out


def _line_note(line: int, source_lines: list[str] | None) -> str:
    """`      ; line 12` and, when the source is known, that line's text."""
    note = f"      ; line {line}"
    if source_lines is not None and 1 <= line <= len(source_lines):
        text = source_lines[line - 1].strip()
        if text:
            note += f"  {text}"
    return note


def _operands(image: Image, op: isa.Op, off: int, args: tuple[int, ...]) -> str:
    """The operands of one instruction, each shown as what it stands for."""
    parts = []
    for role, value in zip(op.roles, args, strict=True):
        if role == "jump":
            parts.append(f"-> {off + op.size + value:04d}")
        elif role == "const":
            parts.append(_const(image, value))
        elif role == "name":
            parts.append(_name(image, value))
        elif role == "func":
            ok = 0 <= value < len(image.funcs)
            parts.append(_name(image, image.funcs[value].name) if ok else f"?fn{value}")
        elif role == "module":
            ok = 0 <= value < len(image.modules)
            parts.append(_name(image, image.modules[value].name) if ok else f"?mod{value}")
        else:
            parts.append(str(value))
    return " ".join(parts)


def _const(image: Image, k: int) -> str:
    """A constant in its ilusm printed form; strings double-quoted."""
    if not 0 <= k < len(image.consts):
        return f"?const{k}"
    v = image.consts[k]
    if isinstance(v, str):
        return quote(v)
    if isinstance(v, int) and v.bit_length() > 8000:
        # Python refuses str() of huge ints (int_max_str_digits); hex has no limit.
        return hex(v)
    return fmt_num(v)


def _name(image: Image, i: int) -> str:
    """A name as plain text, quoted when it holds spaces or control characters."""
    if not 0 <= i < len(image.names):
        return f"?name{i}"
    s = image.names[i]
    return s if s and s.isprintable() and " " not in s and '"' not in s else quote(s)
