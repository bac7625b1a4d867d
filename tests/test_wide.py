"""The WIDE prefix: programs past the old 16-bit limits, the exact wide
encoding, the layout that chooses short or wide jumps, and the reader's
refusal of misplaced prefixes.

The big programs are generated here (never checked in); each one is compiled
by both compilers to the same bytes, checked to really use WIDE, and run on
both engines.
"""
from __future__ import annotations

from pathlib import Path

import pytest
from cli_util import ilusm

from stage0 import isa
from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.image.model import FuncDef, Image, ModuleEntry
from stage0.image.verify import decode
from stage0.seedc.emit import FnBuilder

N = 70_000


def _program(kind: str) -> tuple[str, str]:
    """(source, expected output) of a generated program past a 16-bit limit."""
    if kind == "consts":  # 70,000 distinct constants: PUSH_CONST k > 65535
        src = "s = 0\n" + "".join(f"s += {i * 7 + 100_000}\n" for i in range(N)) + "prn s\n"
        return src, str(sum(i * 7 + 100_000 for i in range(N)))
    if kind == "globals":  # 70,000 distinct names: LOAD/STORE_GLOBAL name > 65535
        return "".join(f"g{i} = {i % 100}\n" for i in range(N)) + "prn g69999 + g1\n", "100"
    if kind == "list":  # MAKE_LIST n > 65535
        return "xs = [" + ", ".join(str(i) for i in range(N)) + "]\nprn len(xs), xs[69999]\n", "70000 69999"
    if kind == "if":  # an if body of 3,400 ten-byte statements: JUMP_UNLESS past i16
        return "x = 1\nif x:\n" + "".join(f"    y{i % 50} = x + {i}\n" for i in range(3400)) + "prn y0\n", "3351"
    assert kind == "loop"  # a loop body past i16: FOR_NEXT's exit and the backward JUMP
    src = "t = 0\ni <- 0..2:\n" + "".join(f"    t += {i}\n" for i in range(7000)) + "prn t\n"
    return src, str(3 * sum(range(7000)))


def _wide_ops(code: bytes) -> list[str]:
    """Names of the instructions of code that carry a WIDE prefix."""
    instrs = decode(code)
    ends = [off for off, _, _ in instrs[1:]] + [len(code)]
    return [isa.BY_CODE[c].name for (off, c, _), end in zip(instrs, ends) if end - off > isa.BY_CODE[c].size]


WIDENS = {"consts": "PUSH_CONST", "globals": "STORE_GLOBAL", "list": "MAKE_LIST",
          "if": "JUMP_UNLESS", "loop": "JUMP"}


@pytest.mark.parametrize("kind", sorted(WIDENS))
def test_big_program_same_bytes_and_runs(tmp_path: Path, kind: str) -> None:
    src, want = _program(kind)
    f = tmp_path / f"{kind}.ilu"
    f.write_text(src, encoding="utf-8")
    images = {}
    for compiler in ("seed", "self"):
        out = tmp_path / f"{kind}.{compiler}.ilbc"
        code, _, err = ilusm("compile", "--compiler", compiler, str(f), "-o", str(out))
        assert (code, err) == (0, ""), compiler
        images[compiler] = out.read_bytes()
    assert images["seed"] == images["self"]
    image = ilbc.read(images["seed"])
    main = image.funcs[image.modules[image.entry].main]
    assert WIDENS[kind] in _wide_ops(main.code)
    for engine in ("ref", "fast"):
        code, out_text, err = ilusm("run", "--engine", engine, str(tmp_path / f"{kind}.seed.ilbc"))
        assert (code, out_text.strip(), err) == (0, want, ""), engine


def test_widening_cascades_in_both_compilers(tmp_path: Path) -> None:
    """A loop body of 32,763 bytes: FOR_NEXT's exit (+32,766) fits i16 until the backward
    JUMP (-32,771) goes wide and pushes it to +32,769, so the layout must be redone."""
    f = tmp_path / "cascade.ilu"
    f.write_text("i <- 0..1:\n" + "    x = nil\n" * 8190 + "prn x\n", encoding="utf-8")
    images = []
    for compiler in ("seed", "self"):
        out = tmp_path / f"{compiler}.ilbc"
        assert ilusm("compile", "--compiler", compiler, str(f), "-o", str(out))[0] == 0
        images.append(out.read_bytes())
    assert images[0] == images[1]
    image = ilbc.read(images[0])
    main = image.funcs[image.modules[0].main].code
    assert _wide_ops(main) == ["FOR_NEXT", "JUMP"]
    at = next(off for off, c, _ in decode(main) if c == isa.OPC["FOR_NEXT"])
    # WIDE FOR_NEXT slot:u32 off:i32, the offset from the end of the 10-byte wide form: the
    # 32,763-byte body and the 6-byte wide JUMP.
    assert main[at:at + 10] == bytes([isa.WIDE, isa.OPC["FOR_NEXT"]]) + (0).to_bytes(4, "little") \
        + (32_769).to_bytes(4, "little")


# ---- exact encodings (seed FnBuilder; the self-hosted mirror is compared above) -------------

def _assembled(*ins: tuple[str, int]) -> bytes:
    b = FnBuilder()
    for name, *args in ins:
        b.emit(name, *args)
    return b.assemble()[0]


def test_u16_operand_boundary() -> None:
    assert _assembled(("PUSH_CONST", 65535)) == b"\x01\xff\xff"
    assert _assembled(("PUSH_CONST", 65536)) == b"\xfe\x01\x00\x00\x01\x00"
    assert _assembled(("SYSCALL", 70000, 2)) == b"\xfe\xf0\x70\x11\x01\x00\x02"
    assert _assembled(("MAKE_LIST", 70000)) == b"\xfe\x60\x70\x11\x01\x00"


def _forward(pad: int) -> bytes:
    """JUMP over pad one-byte POPs."""
    b = FnBuilder()
    j = b.jump("JUMP")
    for _ in range(pad):
        b.emit("POP")
    b.patch(j)
    return b.assemble()[0]


def _backward(pad: int) -> bytes:
    """pad one-byte POPs, then a JUMP back to the first."""
    b = FnBuilder()
    for _ in range(pad):
        b.emit("POP")
    b.loop_back(0)
    return b.assemble()[0]


def test_jump_boundaries() -> None:
    assert _forward(32767)[:3] == b"\x30\xff\x7f"
    # 32,768 from the short form's end: wide, the i32 counted from the 6-byte wide form's end.
    assert _forward(32768)[:6] == b"\xfe\x30" + (32768).to_bytes(4, "little")
    assert _backward(32765)[-3:] == b"\x30\x00\x80"
    assert _backward(32766)[-6:] == b"\xfe\x30" + (-32772).to_bytes(4, "little", signed=True)


def test_wide_decodes_as_one_instruction() -> None:
    code = _forward(32768)
    instrs = decode(code)
    assert instrs[0] == (0, isa.OPC["JUMP"], (32768 + 3,))  # offset from the short form's end
    assert instrs[1][0] == 6


# ---- the reader refuses misplaced prefixes ----------------------------------------------

def _image(code: bytes, consts: int = 1) -> Image:
    main = FuncDef(0, 0, 0, [], code, [(0, 1)])
    return Image(list(range(consts)), ["main", "main.ilu"], [main], [ModuleEntry(0, 1, 0)], 0)


W, RET, NIL, POP = isa.WIDE, isa.OPC["RET"], isa.OPC["PUSH_NIL"], isa.OPC["POP"]


@pytest.mark.parametrize("code, message", [
    (bytes([NIL, RET, W]), "WIDE at offset 2 is cut off by the end of the code"),
    (bytes([NIL, W, isa.OPC["NEG"], RET]), "WIDE at offset 1 before NEG, which has no u16 or i16 operand"),
    (bytes([NIL, W, W, 1, 0, 0, 0, 0, RET]), "WIDE at offset 1 before WIDE, which has no u16 or i16 operand"),
    (bytes([W, isa.OPC["CALL"], 0, RET]), "WIDE at offset 0 before CALL, which has no u16 or i16 operand"),
    (bytes([W, 1, 0, 0, 0]), "WIDE PUSH_CONST at offset 0 is cut off by the end of the code"),
    (bytes([W, 1, 0, 0, 0, 0, RET]), "WIDE PUSH_CONST at offset 0: the operands fit the short form"),
    (bytes([W, isa.OPC["JUMP"], 0, 0, 0, 0, NIL, RET]), "WIDE JUMP at offset 0: the operands fit the short form"),
    (bytes([W, 0x99, 0, 0, 0, 0]), "WIDE at offset 0 before 0x99, which has no u16 or i16 operand"),
])
def test_malformed_wide_is_refused(code: bytes, message: str) -> None:
    with pytest.raises(ImageError) as info:
        ilbc.write(_image(code))
    assert str(info.value).endswith(message)


def test_jump_into_a_wide_instruction_is_refused() -> None:
    # JUMP +1 lands on offset 4, the PUSH_CONST behind the WIDE prefix at offset 3: a jump
    # must name the prefix, so offset 4 is the middle of the wide instruction.
    big = 65537
    code = bytes([isa.OPC["JUMP"], 1, 0, W, 1]) + (big - 1).to_bytes(4, "little") + bytes([RET])
    with pytest.raises(ImageError) as info:
        ilbc.write(_image(code, consts=big))
    assert str(info.value).endswith("JUMP at offset 0 jumps to 4, not the start of an instruction")
    good = bytes([isa.OPC["JUMP"], 0, 0, W, 1]) + (big - 1).to_bytes(4, "little") + bytes([RET])
    assert ilbc.read(ilbc.write(_image(good, consts=big))).funcs[0].code == good


# ---- what remains limited is reported where it is exceeded ------------------------------

@pytest.mark.parametrize("n, compiler", [(65_536, "seed"), (65_536, "self"), (65_535, "seed")])
def test_local_limit_is_reported_at_the_function(tmp_path: Path, n: int, compiler: str) -> None:
    f = tmp_path / "locals.ilu"
    f.write_text("x = 1\n  # pad\nf() =\n" + "".join(f"    a{i} = {i}\n" for i in range(n))
                 + f"    a0 + a{n - 1}\nprn f()\n", encoding="utf-8")
    code, out, err = ilusm("run", "--compiler", compiler, str(f))
    if n <= 65_535:
        assert (code, out.strip(), err) == (0, str(n - 1), "")
    else:
        assert (code, out) == (65, "")
        assert err.splitlines()[0] == f"{f}:3:1: error: too many local variables in one function (at most 65535)"


def test_lambda_local_limit_is_reported_at_the_lambda(tmp_path: Path) -> None:
    f = tmp_path / "lam.ilu"
    f.write_text("g = 0\nh = \\()\n" + "".join(f"    a{i} = {i}\n" for i in range(65_536)) + "    a0\n",
                 encoding="utf-8")
    errs = {c: ilusm("compile", "--compiler", c, str(f), "-o", str(tmp_path / "o.ilbc")) for c in ("seed", "self")}
    assert errs["seed"] == errs["self"]
    code, _, err = errs["seed"]
    assert code == 65
    assert err.splitlines()[0] == f"{f}:2:5: error: too many local variables in one function (at most 65535)"


def test_dis_shows_the_prefix() -> None:
    from stage0.image.dis import disassemble_func
    code = _forward(32768) + bytes([NIL, RET])
    text = disassemble_func(_image(code), 0).splitlines()
    assert text[2] == "0000  WIDE JUMP         -> 32774"
    assert text[3] == "0006  POP"
