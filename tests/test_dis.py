"""Exact-output tests of the disassembler (stage0/image/dis.py) on hand-built images."""
from __future__ import annotations

import math
import struct
from typing import Any

from stage0 import isa
from stage0.image.dis import disassemble, disassemble_func
from stage0.image.model import Const, FuncDef, Image, ModuleEntry
from stage0.image.verify import validate

_PACK = {"u8": "<B", "u16": "<H", "i16": "<h"}


def assemble(instrs: list[tuple[Any, ...]]) -> bytes:
    """Encode instructions from the ISA table; jump operands are raw offsets here."""
    out = bytearray()
    for name, *args in instrs:
        op = isa.BY_NAME[name]
        out.append(op.code)
        for (_, kind), arg in zip(op.operands, args, strict=True):
            out += struct.pack(_PACK[kind], arg)
    return bytes(out)


def program() -> Image:
    """`main.ilu` defining `inc` and printing inc(41) when x is truthy, and `lib/u.ilu`."""
    names = ["main.ilu", "main", "inc", "prn", "x", "lib/u.ilu", "u", "odd name"]
    consts: list[Const] = [1, 41, "hi\n"]
    main = FuncDef(1, 0, 0, [], assemble([
        ("MAKE_CLOSURE", 1), ("STORE_GLOBAL", 2),           # 0, 3
        ("LOAD_GLOBAL", 4), ("JUMP_UNLESS", 14),             # 6, 9
        ("LOAD_GLOBAL", 3), ("LOAD_GLOBAL", 2),              # 12, 15
        ("PUSH_CONST", 1), ("CALL", 1), ("CALL", 1), ("POP",),  # 18, 21, 23, 25
        ("USE", 1), ("RET",),                                # 26, 29
    ]), [(0, 1), (6, 2), (26, 4)])
    inc = FuncDef(2, 1, 1, [], assemble([("LOAD_LOCAL", 0), ("PUSH_CONST", 0), ("ADD",), ("RET",)]), [(0, 1)])
    util = FuncDef(6, 0, 0, [], assemble([("PUSH_CONST", 2), ("SYSCALL", 7, 1), ("RET",)]), [(0, 3)])
    return Image(consts, names, [main, inc, util], [ModuleEntry(0, 0, 0), ModuleEntry(5, 5, 2)], 0)


SOURCE = "inc(n) = n + 1\nif x:\n    prn inc(41)\nuse u\n"

EXPECTED = """\
module main.ilu  (main.ilu)  [entry]

fn main/0  locals=0 upvals=0  (main.ilu)
      ; line 1  inc(n) = n + 1
0000  MAKE_CLOSURE      inc
0003  STORE_GLOBAL      inc
      ; line 2  if x:
0006  LOAD_GLOBAL       x
0009  JUMP_UNLESS       -> 0026
0012  LOAD_GLOBAL       prn
0015  LOAD_GLOBAL       inc
0018  PUSH_CONST        41
0021  CALL              1
0023  CALL              1
0025  POP
      ; line 4  use u
0026  USE               lib/u.ilu
0029  RET

fn inc/1  locals=1 upvals=0  (main.ilu)
      ; line 1  inc(n) = n + 1
0000  LOAD_LOCAL        0
0003  PUSH_CONST        1
0006  ADD
0007  RET

module lib/u.ilu  (lib/u.ilu)

fn u/0  locals=0 upvals=0  (lib/u.ilu)
      ; line 3
0000  PUSH_CONST        "hi\\n"
0003  SYSCALL           "odd name" 1
0007  RET
"""


def test_whole_image_with_sources() -> None:
    validate(program())
    assert disassemble(program(), {"main.ilu": SOURCE}) == EXPECTED


def test_without_sources_only_line_numbers() -> None:
    text = disassemble(program())
    assert "      ; line 2\n0006  LOAD_GLOBAL       x\n" in text
    assert "if x:" not in text
    assert text == disassemble(program())


def test_single_function() -> None:
    assert disassemble_func(program(), 1) == (
        "fn inc/1  locals=1 upvals=0  (main.ilu)\n"
        "      ; line 1\n"
        "0000  LOAD_LOCAL        0\n"
        "0003  PUSH_CONST        1\n"
        "0006  ADD\n"
        "0007  RET\n"
    )


def test_constant_forms_and_loops() -> None:
    consts: list[Const] = [2.5, -0.0, 1e16, math.nan, -math.inf, "", 'say "x"', 10**30]
    code = [("PUSH_CONST", k) for k in range(len(consts))] + [("MAKE_LIST", len(consts)), ("ITER", 0),
                                                             ("FOR_NEXT", 0, 4), ("POP",), ("JUMP", -9),
                                                             ("PUSH_NIL",), ("RET",)]
    main = FuncDef(0, 0, 1, [], assemble(code), [])
    image = Image(consts, ["m"], [main], [ModuleEntry(0, 0, 0)], 0)
    validate(image)
    assert disassemble_func(image, 0) == (
        "fn m/0  locals=1 upvals=0  (m)\n"
        "0000  PUSH_CONST        2.5\n"
        "0003  PUSH_CONST        -0\n"
        "0006  PUSH_CONST        1e+16\n"
        "0009  PUSH_CONST        nan\n"
        "0012  PUSH_CONST        -inf\n"
        '0015  PUSH_CONST        ""\n'
        '0018  PUSH_CONST        "say \\"x\\""\n'
        "0021  PUSH_CONST        1000000000000000000000000000000\n"
        "0024  MAKE_LIST         8\n"
        "0027  ITER              0\n"
        "0030  FOR_NEXT          0 -> 0039\n"
        "0035  POP\n"
        "0036  JUMP              -> 0030\n"
        "0039  PUSH_NIL\n"
        "0040  RET\n"
    )


def test_functions_outside_every_module() -> None:
    image = program()
    image.funcs.append(FuncDef(7, 0, 0, [(1, 0)], assemble([("LOAD_UPVAL", 0), ("RET",)]), []))
    text = disassemble(image)
    assert text.endswith(
        "functions outside every module\n"
        "\n"
        'fn "odd name"/0  locals=0 upvals=1  (?)\n'
        "0000  LOAD_UPVAL        0\n"
        "0003  RET\n"
    )
