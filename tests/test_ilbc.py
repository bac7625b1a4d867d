"""Tests of the ILBC writer, reader and verifier (stage0/image/ilbc.py, stage0/image/verify.py).

Hand-built images pin the format (a golden byte string) and each validation
rule; hypothesis fuzzes the reader with truncated, corrupted and re-framed
images (only ImageError may come out) and round-trips random valid images.
"""
from __future__ import annotations

import math
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage0 import isa
from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.image.model import Const, FuncDef, Image, ModuleEntry, const_key
from stage0.image.verify import decode, stack_pops, verify_code

# `make fuzz` raises the example count for a long soak (ILUSM_FUZZ_EXAMPLES).
FUZZ_EXAMPLES = int(os.environ.get("ILUSM_FUZZ_EXAMPLES", "800"))
# The random-image round trip: 600 examples in `make test`, the soak's count under `make fuzz`.
ROUND_TRIP = 600 if FUZZ_EXAMPLES < 2000 else FUZZ_EXAMPLES
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

_PACK = {"u8": "<B", "u16": "<H", "i16": "<h"}


def assemble(instrs: list[tuple[Any, ...]]) -> bytes:
    """Encode instructions from the ISA table; ("label", L) marks a jump target
    and a jump operand may name a label instead of giving a raw offset."""
    labels, pos = {}, 0
    for ins in instrs:
        if ins[0] == "label":
            labels[ins[1]] = pos
        else:
            pos += isa.BY_NAME[ins[0]].size
    out = bytearray()
    for ins in instrs:
        if ins[0] == "label":
            continue
        op = isa.BY_NAME[ins[0]]
        assert len(ins) - 1 == len(op.operands), ins
        end = len(out) + op.size  # jump offsets count from the next instruction
        out.append(op.code)
        for (_, kind), arg in zip(op.operands, ins[1:], strict=True):
            if isinstance(arg, str):
                arg = labels[arg] - end
            out += struct.pack(_PACK[kind], arg)
    return bytes(out)


def fn(name: int, code: list[tuple[Any, ...]], arity: int = 0, nlocals: int = 0,
       upvals: list[tuple[int, int]] | None = None, lines: list[tuple[int, int]] | None = None) -> FuncDef:
    """A FuncDef from assembler input."""
    return FuncDef(name, arity, nlocals, upvals or [], assemble(code), lines or [])


def tiny() -> Image:
    """`7` as a whole program: one module whose main returns constant 0."""
    main = fn(0, [("PUSH_CONST", 0), ("RET",)], lines=[(0, 1)])
    return Image([7], ["main", "main.ilu"], [main], [ModuleEntry(0, 1, 0)], 0)


def rich() -> Image:
    """Two modules, closures, loops, every constant kind's edge values."""
    consts: list[Const] = [0, -1, 255, 256, 2**200, -(2**200), 0.0, -0.0, math.inf, -math.inf,
                           math.nan, 1e-300, 5e-324, "", "héllo ✓ 😀", "a\0b"]
    names = ["main", "main.ilu", "lib/m.ilu", "prn", "add", "anon", "f"]
    main = fn(0, [
        ("MAKE_CLOSURE", 1), ("STORE_GLOBAL", 4), ("USE", 1), ("POP",),
        ("LOAD_GLOBAL", 4), ("PUSH_CONST", 4), ("PUSH_CONST", 5), ("CALL", 2), ("RET",),
    ], lines=[(0, 1), (6, 2), (13, 3)])
    add = fn(4, [
        ("MAKE_CELL", 0), ("MAKE_CLOSURE", 2), ("STORE_LOCAL", 2),
        ("LOAD_LOCAL", 2), ("LOAD_LOCAL", 1), ("CALL_TAIL", 1), ("RET",),
    ], arity=2, nlocals=3, lines=[(0, 5)])
    inner = fn(5, [("LOAD_UPVAL", 0), ("LOAD_LOCAL", 0), ("ADD",), ("RET",)], arity=1, nlocals=1, upvals=[(0, 0)])
    mod = fn(6, [
        ("PUSH_CONST", 0), ("PUSH_CONST", 2), ("ITER_RANGE", 0),
        ("label", "top"), ("FOR_NEXT", 0, "end"), ("STORE_LOCAL", 1), ("JUMP", "top"),
        ("label", "end"), ("PUSH_NIL",), ("JUMP_IF_NIL", "nil"), ("GET_FIELD", 3),
        ("label", "nil"), ("RET",),
    ], nlocals=2, lines=[(0, 1), (9, 2)])
    return Image(consts, names, [main, add, inner, mod], [ModuleEntry(0, 1, 0), ModuleEntry(2, 2, 3)], 0)


def norm(image: Image) -> tuple[Any, ...]:
    """A comparable form of an Image: floats by bits, so NaN equals itself and -0.0 differs from 0.0."""
    consts = [struct.pack("<d", v) if type(v) is float else const_key(v) for v in image.consts]
    funcs = [(f.name, f.arity, f.nlocals, list(f.upvals), bytes(f.code), list(f.lines)) for f in image.funcs]
    mods = [(m.name, m.file, m.main) for m in image.modules]
    return consts, list(image.names), funcs, mods, image.entry


def frame(payload: bytes, version: int = ilbc.VERSION, flags: int = 0) -> bytes:
    """A header with the right length and checksum in front of payload."""
    return b"ILBC" + struct.pack("<HHII", version, flags, len(payload), zlib.crc32(payload)) + payload


def read_error(data: bytes) -> str:
    """The message of the ImageError that reading data raises."""
    with pytest.raises(ImageError) as info:
        ilbc.read(data)
    msg = str(info.value)
    assert "\n" not in msg and msg
    return msg


# ---- format ----------------------------------------------------------------

GOLDEN_TINY = (
    b"ILBC" b"\x03\x00" b"\x00\x00" b"\x61\x00\x00\x00" b"\xe8\xc0\xa0\x22"  # header
    b"\x01\x00\x00\x00" b"\x01\x00\x01\x00\x00\x00\x07"                    # consts: [int +7]
    b"\x02\x00\x00\x00" b"\x04\x00\x00\x00main" b"\x08\x00\x00\x00main.ilu"  # names
    b"\x01\x00\x00\x00" b"\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"        # 1 func: name:u32 arity nlocals nupvals
    b"\x04\x00\x00\x00" b"\x01\x00\x00\x22"                                # code: PUSH_CONST 0; RET
    b"\x01\x00\x00\x00" b"\x00\x00\x00\x00\x01\x00\x00\x00"                # lines: (0, 1)
    b"\x00\x00" b"\x00\x00"                                                # no debug names
    b"\x01\x00\x00\x00" b"\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00"  # modules: (main, main.ilu, 0)
    b"\x00\x00" b"\x00\x00"                                                # no requires, no uses
    b"\x00\x00\x00\x00"                                                    # entry
)


def test_golden_tiny_image() -> None:
    assert ilbc.write(tiny()) == GOLDEN_TINY
    assert zlib.crc32(GOLDEN_TINY[16:]) == 0x22A0C0E8
    assert norm(ilbc.read(GOLDEN_TINY)) == norm(tiny())


def test_constants_module() -> None:
    assert (ilbc.MAGIC, ilbc.VERSION, ilbc.HEADER_SIZE) == (b"ILBC", 3, 16)


@pytest.mark.parametrize("value, encoded", [
    (0, b"\x01\x00\x00\x00\x00\x00"),
    (-1, b"\x01\x01\x01\x00\x00\x00\x01"),
    (256, b"\x01\x00\x02\x00\x00\x00\x00\x01"),
    (-0.0, b"\x02" + struct.pack("<d", -0.0)),
    ("é", b"\x03\x02\x00\x00\x00\xc3\xa9"),
])
def test_constant_encoding(value: Const, encoded: bytes) -> None:
    w = ilbc.Writer()
    ilbc.write_const(w, value, 0)
    assert bytes(w.buf) == encoded


def test_rich_round_trip() -> None:
    image = rich()
    data = ilbc.write(image)
    back = ilbc.read(data)
    assert norm(back) == norm(image)
    assert ilbc.write(back) == data
    assert math.isnan(back.consts[10]) and math.copysign(1.0, back.consts[7]) < 0  # type: ignore[arg-type]
    assert back.consts[4] == 2**200 and back.consts[5] == -(2**200)


def test_accepts_bytearray_and_memoryview() -> None:
    data = ilbc.write(rich())
    assert norm(ilbc.read(bytearray(data))) == norm(ilbc.read(memoryview(data)))  # type: ignore[arg-type]


def test_write_is_deterministic_across_hash_seeds() -> None:
    code = ("import sys, hashlib; sys.path.insert(0, 'tests'); import test_ilbc; "
            "from stage0.image import ilbc; print(hashlib.sha256(ilbc.write(test_ilbc.rich())).hexdigest())")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digests = set()
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                             capture_output=True, text=True, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1
    assert ilbc.write(rich()) == ilbc.write(rich())


# ---- writer refusals -------------------------------------------------------------

@pytest.mark.parametrize("bad", [True, False, None, b"x", [1]])
def test_write_rejects_non_constants(bad: Any) -> None:
    image = tiny()
    image.consts.append(bad)
    with pytest.raises(ValueError, match="constant 1"):
        ilbc.write(image)


def test_write_rejects_unencodable_fields() -> None:
    image = tiny()
    image.funcs[0].nlocals = 70000
    with pytest.raises(ValueError, match="nlocals"):
        ilbc.write(image)
    image = tiny()
    image.names.append("\ud800")
    with pytest.raises(ValueError, match="UTF-8"):
        ilbc.write(image)


def test_write_verifies_unless_told_not_to() -> None:
    image = tiny()
    image.funcs[0].arity = 1
    with pytest.raises(ImageError, match="arity 1 exceeds"):
        ilbc.write(image)
    assert "arity" in read_error(ilbc.write(image, verify=False))


# ---- header ----------------------------------------------------------------------

def test_header_errors() -> None:
    good = ilbc.write(tiny())
    assert read_error(b"") == "not an ILBC image"
    assert read_error(b"\x7fELF" + good[4:]) == "not an ILBC image"
    assert read_error(b"ILB").startswith("truncated image")
    assert read_error(good[:10]).startswith("truncated image")
    v = ilbc.VERSION
    assert read_error(frame(good[16:], version=v + 1)) == f"unsupported ILBC version {v + 1} (this host reads {v})"
    assert read_error(frame(good[16:], version=0)) == f"unsupported ILBC version 0 (this host reads {v})"
    assert "flags" in read_error(frame(good[16:], flags=1))
    assert read_error(good[:-1]).startswith("truncated image")
    assert "trailing" in read_error(good + b"\0")
    corrupt = bytearray(good)
    corrupt[-3] ^= 1
    assert read_error(bytes(corrupt)) == "checksum mismatch: the image is corrupt"


# ---- payload structure (re-framed so the checksum passes) -------------------------

TINY_PAYLOAD = GOLDEN_TINY[16:]


@pytest.mark.parametrize("old, new, message", [
    (b"\x01\x00\x01\x00\x00\x00\x07", b"\x04\x00\x01\x00\x00\x00\x07", "unknown tag 4"),
    (b"\x01\x00\x01\x00\x00\x00\x07", b"\x01\x02\x01\x00\x00\x00\x07", "sign byte 2"),
    (b"\x01\x00\x01\x00\x00\x00\x07", b"\x01\x00\x02\x00\x00\x00\x07\x00", "minimal form"),
    (b"\x01\x00\x01\x00\x00\x00\x07", b"\x01\x01\x00\x00\x00\x00", "minimal form"),
    (b"main.ilu", b"main.il\xff", "not valid UTF-8"),
    (b"\x01\x00\x00\x00\x01\x00\x01", b"\xff\xff\xff\xff\x01\x00\x01", "truncated image"),
    (b"\x02\x00\x00\x00\x04\x00", b"\xff\xff\xff\xff\x04\x00", "truncated image"),
])
def test_payload_structure_errors(old: bytes, new: bytes, message: str) -> None:
    assert TINY_PAYLOAD.count(old) == 1
    assert message in read_error(frame(TINY_PAYLOAD.replace(old, new)))


def test_trailing_payload_bytes() -> None:
    assert "trailing bytes after the module table" in read_error(frame(TINY_PAYLOAD + b"\0"))


def test_huge_counts_fail_fast() -> None:
    # A count of 2**32-1 functions must not allocate or loop before failing.
    payload = b"\0" * 8 + b"\xff\xff\xff\xff"
    assert "truncated image" in read_error(frame(payload))


# ---- semantic validation ---------------------------------------------------------

def broken(edit: Any) -> str:
    """The read error of tiny() after edit(image) (written without verification)."""
    image = tiny()
    edit(image)
    data = ilbc.write(image, verify=False)
    with pytest.raises(ImageError):
        ilbc.validate(image)
    return read_error(data)


Edit = Any  # a function that changes an Image in place


def put(target: str, **fields: Any) -> Edit:
    """An edit setting fields of function 0 ("func"), module 0 ("mod") or the image ("image")."""
    def edit(image: Image) -> None:
        """Set the fields."""
        obj: Any = {"func": image.funcs[0], "mod": image.modules[0], "image": image}[target]
        for k, v in fields.items():
            setattr(obj, k, v)
    return edit


def set_code(code: list[tuple[Any, ...]], **fields: Any) -> Edit:
    """An edit that replaces function 0's code (and other fields) in tiny()."""
    return put("func", code=assemble(code), lines=[], **fields)


def add_func(f: FuncDef, then: Edit = None) -> Edit:
    """An edit that appends function f, then applies `then`."""
    def edit(image: Image) -> None:
        """Append, then chain."""
        image.funcs.append(f)
        if then:
            then(image)
    return edit


@pytest.mark.parametrize("edit, message", [
    (put("func", name=9), "name index 9 out of range"),
    (put("func", nlocals=0, arity=1), "arity 1 exceeds"),
    (add_func(fn(0, [("PUSH_NIL",), ("RET",)], upvals=[(2, 0)])), "unknown upvalue kind 2"),
    (put("mod", name=5), "module #0: name index 5"),
    (put("mod", file=5), "module #0: file index 5"),
    (put("mod", main=3), "main function 3 out of range"),
    (put("func", nlocals=1, arity=1), "must take no arguments"),
    (put("func", upvals=[(0, 0)]), "capture nothing"),
    (put("image", entry=1), "entry module 1 out of range"),
    (put("image", modules=[]), "entry module 0 out of range (have 0)"),
    (put("image", modules=[ModuleEntry(0, 1, 0), ModuleEntry(0, 0, 0)]), 'duplicate module "main"'),
    (put("func", lines=[(0, 1), (0, 2)]), "does not increase"),
    (put("func", lines=[(4, 1)]), "offset 4 is not the start"),
    (put("func", lines=[(1, 1)]), "offset 1 is not the start"),
    (put("func", code=b""), "has no code"),
    (put("func", code=b"\x99\x22"), "unknown opcode 0x99 at offset 0"),
    (put("func", code=b"\x02\x22\x01\x00"), "PUSH_CONST at offset 2 is cut off"),
    (set_code([("PUSH_CONST", 1), ("RET",)]), "constant 1 out of range (have 1)"),
    (set_code([("LOAD_LOCAL", 0), ("RET",)]), "local slot 0 out of range (have 0)"),
    (set_code([("LOAD_UPVAL", 0), ("RET",)]), "upvalue 0 out of range"),
    (set_code([("LOAD_GLOBAL", 2), ("RET",)]), "name 2 out of range"),
    (set_code([("MAKE_CLOSURE", 1), ("RET",)]), "function 1 out of range"),
    (set_code([("USE", 1), ("RET",)]), "module 1 out of range"),
    (set_code([("SYSCALL", 7, 0), ("RET",)]), "name 7 out of range"),
    (set_code([("PUSH_NIL",), ("JUMP", 1), ("RET",)]), "jumps to 5, not the start"),
    (set_code([("PUSH_NIL",), ("JUMP", -2), ("RET",)]), "jumps to 2, not the start"),
    (set_code([("JUMP", -4), ("PUSH_NIL",), ("RET",)]), "jumps to -1"),
    (set_code([("PUSH_NIL",), ("JUMP_IF", 1), ("RET",)]), "jumps to 5, not the start"),
    (set_code([("POP",), ("PUSH_NIL",), ("RET",)]), "stack underflow at offset 0: POP pops 1, depth is 0"),
    (set_code([("PUSH_NIL",), ("CALL", 1), ("RET",)]), "CALL pops 2, depth is 1"),
    (set_code([("PUSH_NIL",), ("PUSH_NIL",), ("RET",)]), "RET at offset 2 with stack depth 2 (must be 1)"),
    (set_code([("RET",)]), "stack underflow at offset 0"),
    (set_code([("PUSH_NIL",)]), "falls off the end after offset 0"),
    (set_code([("PUSH_NIL",), ("CALL_TAIL", 0)]), "falls off the end after offset 1"),
    (set_code([("PUSH_TRU",), ("JUMP_IF", "x"), ("PUSH_NIL",), ("label", "x"), ("PUSH_NIL",), ("RET",)]),
     "meet at offset 5"),
    (set_code([("PUSH_NIL",), ("label", "x"), ("PUSH_NIL",), ("JUMP", "x")]), "meet at offset 1"),
    (set_code([("PUSH_NIL",), ("ITER", 0), ("label", "t"), ("FOR_NEXT", 0, "e"), ("JUMP", "t"),
               ("label", "e"), ("PUSH_NIL",), ("RET",)], nlocals=1), "meet at offset 4"),
    (add_func(fn(0, [("LOAD_UPVAL", 0), ("RET",)], upvals=[(0, 3)]),
              set_code([("MAKE_CLOSURE", 1), ("RET",)], nlocals=2)), "captures local slot 3"),
    (add_func(fn(0, [("LOAD_UPVAL", 0), ("RET",)], upvals=[(1, 0)]),
              set_code([("MAKE_CLOSURE", 1), ("RET",)])), "captures upvalue 0"),
])
def test_validation_errors(edit: Any, message: str) -> None:
    assert message in broken(edit)


def test_error_names_the_function() -> None:
    msg = broken(set_code([("PUSH_NIL",)]))
    assert msg.startswith('function #0 "main": ')


# ---- verifier -------------------------------------------------------------------

def test_stack_rules_of_special_jumps() -> None:
    image = tiny()
    image.names.append("x")
    cases: list[tuple[list[tuple[Any, ...]], int, int]] = [
        # JUMP_IF_NIL keeps its value on both paths.
        ([("PUSH_NIL",), ("JUMP_IF_NIL", "e"), ("GET_FIELD", 2), ("label", "e"), ("RET",)], 1, 1),
        # FOR_NEXT pushes one on fall-through, nothing when it jumps.
        ([("PUSH_CONST", 0), ("ITER", 0), ("label", "t"), ("FOR_NEXT", 0, "e"), ("POP",), ("JUMP", "t"),
          ("label", "e"), ("PUSH_NIL",), ("RET",)], 1, 1),
        ([("PUSH_CONST", 0), ("ITER2", 0), ("label", "t"), ("FOR_NEXT2", 0, "e"), ("MAKE_LIST", 2), ("POP",),
          ("JUMP", "t"), ("label", "e"), ("PUSH_NIL",), ("RET",)], 1, 2),
        # CALL_TAIL is followed by RET in compiled code and counts as a CALL.
        ([("PUSH_NIL",), ("PUSH_NIL",), ("PUSH_NIL",), ("CALL_TAIL", 2), ("RET",)], 0, 3),
        ([("PUSH_CONST", 0), ("PUSH_CONST", 0), ("PUSH_CONST", 0), ("MAKE_OBJ", 1), ("DUP2",),
          ("POP",), ("POP",), ("SET_FIELD", 2), ("RET",)], 0, 4),
        # An infinite loop never returns, and that is allowed.
        ([("label", "t"), ("JUMP", "t")], 0, 0),
        # Unreachable code is range-checked but not depth-checked.
        ([("PUSH_NIL",), ("RET",), ("POP",), ("POP",)], 0, 1),
    ]
    for code, nlocals, depth in cases:
        func = fn(0, code, nlocals=nlocals)
        assert verify_code(func, image) == depth, code


def test_decode() -> None:
    code = assemble([("PUSH_CONST", 258), ("label", "t"), ("FOR_NEXT", 1, "t"), ("SYSCALL", 3, 2), ("RET",)])
    assert decode(code) == [(0, 0x01, (258,)), (3, 0x3B, (1, -5)), (8, 0xF0, (3, 2)), (12, 0x22, ())]
    with pytest.raises(ImageError, match="unknown opcode 0x00 at offset 1"):
        decode(b"\x02\x00")


def test_stack_pops_matches_isa() -> None:
    for op in isa.TABLE:
        for value in (0, 1, 2, 7, 255):
            args = tuple(value for _ in op.operands)
            assert stack_pops(op.code, args) == op.stack_delta(args)[0], op.name


def test_pop_rules_read_the_table() -> None:
    """The pops column becomes (factor, operand position, constant) once, in isa.py."""
    rules = {name: isa.BY_NAME[name].pop_rule for name in ("ADD", "CALL", "MAKE_OBJ", "CONCAT", "SYSCALL")}
    assert rules == {"ADD": (0, -1, 2), "CALL": (1, 0, 1), "MAKE_OBJ": (2, 0, 0), "CONCAT": (1, 0, 0),
                     "SYSCALL": (1, 1, 0)}
    assert isa.BY_NAME["SYSCALL"].pops_of((9, 3)) == 3 and isa.BY_NAME["MAKE_OBJ"].pops_of((70_000,)) == 140_000


def test_no_consumer_evaluates_table_text() -> None:
    """Stack effects are data: no module of the host runs eval on the ISA's formulas."""
    host = Path(__file__).resolve().parent.parent / "stage0"
    call = re.compile(r"(?<![.\w])(?<!def )eval\(")
    offenders = [p.name for p in host.rglob("*.py") if call.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


# ---- fuzzing --------------------------------------------------------------------

SAMPLES = [ilbc.write(tiny()), ilbc.write(rich())]


def read_or_image_error(data: bytes) -> None:
    """Reading data either fails with a one-line ImageError or gives an image that
    re-writes to exactly data (every accepted encoding is the canonical one)."""
    try:
        image = ilbc.read(data)
    except ImageError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert ilbc.write(image) == data


def test_truncation_at_every_length() -> None:
    for data in SAMPLES:
        for n in range(len(data)):
            read_error(data[:n])
        for n in range(len(data) - 16):
            read_error(frame(data[16:16 + n]))


@FUZZ
@given(st.sampled_from(SAMPLES),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=4))
def test_fuzz_corrupt_bytes(data: bytes, edits: list[tuple[int, int]]) -> None:
    buf = bytearray(data)
    for pos, value in edits:
        buf[pos % len(buf)] = value
    read_or_image_error(bytes(buf))


# A whole instruction with small operand bytes: splicing these in keeps the
# code decodable more often, so the range checks and the flow analysis run.
_INSTR = st.builds(lambda op, b: bytes([op.code]) + b[:op.size - 1], st.sampled_from(isa.TABLE),
                   st.lists(st.sampled_from([0, 0, 1, 2, 3, 255]), min_size=3, max_size=3).map(bytes))

_EDIT = st.one_of(
    st.tuples(st.sampled_from(["set", "insert"]), st.integers(0, 10**6), _INSTR),
    st.tuples(st.just("set"), st.integers(0, 10**6), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=6)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 6)),
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(0, 7)),
)


def mutate(payload: bytes, edits: list[tuple[str, int, Any]]) -> bytes:
    """Apply set/insert/delete/flip edits at positions taken modulo the length."""
    buf = bytearray(payload)
    for kind, pos, arg in edits:
        i = pos % (len(buf) + 1)
        if kind == "set":
            buf[i:i + len(arg)] = arg
        elif kind == "insert":
            buf[i:i] = arg
        elif kind == "delete":
            del buf[i:i + arg]
        elif buf and i < len(buf):
            buf[i] ^= 1 << arg
    return bytes(buf)


@FUZZ
@given(st.sampled_from(SAMPLES), st.lists(_EDIT, min_size=1, max_size=3))
def test_fuzz_reframed_payload(data: bytes, edits: list[tuple[str, int, Any]]) -> None:
    read_or_image_error(frame(mutate(data[16:], edits)))


# ---- random valid images ----------------------------------------------------------

# Each local slot of a generated function keeps one kind (slot number mod 4),
# as the verifier's slot-kind rules want: a value, a cell (made in the
# prologue), an iterator, a pair iterator.
SLOT_ROLES = ("value", "cell", "iter", "pairs")


class Ctx:
    """What code being generated for one function may refer to."""

    def __init__(self, image: Image, func: FuncDef, shapes: list[FuncDef]) -> None:
        self.image, self.func, self.labels = image, func, 0
        self.slots = {role: [s for s in range(func.nlocals) if SLOT_ROLES[s % 4] == role] for role in SLOT_ROLES}
        # Closures this function may create: their captures exist in this frame.
        self.closures = [i for i, f in enumerate(shapes) if all(
            (k == 0 and x in self.slots["cell"]) or (k == 1 and x < len(func.upvals)) for k, x in f.upvals)]

    def label(self) -> str:
        """A fresh label name."""
        self.labels += 1
        return f"L{self.labels}"


def gen_leaf(draw: Any, c: Ctx) -> list[tuple[Any, ...]]:
    """One instruction that pushes one value."""
    im, f = c.image, c.func
    options: list[tuple[Any, ...]] = [("PUSH_NIL",), ("PUSH_TRU",), ("PUSH_FLS",),
                                      ("PUSH_CONST", draw(st.integers(0, len(im.consts) - 1))),
                                      ("LOAD_GLOBAL", draw(st.integers(0, len(im.names) - 1))),
                                      ("USE", draw(st.integers(0, len(im.modules) - 1)))]
    if c.slots["value"]:
        options.append(("LOAD_LOCAL", draw(st.sampled_from(c.slots["value"]))))
    if c.slots["cell"]:
        options.append(("LOAD_CELL", draw(st.sampled_from(c.slots["cell"]))))
    if f.upvals:
        options.append(("LOAD_UPVAL", draw(st.integers(0, len(f.upvals) - 1))))
    if c.closures:
        options.append(("MAKE_CLOSURE", draw(st.sampled_from(c.closures))))
    return [draw(st.sampled_from(options))]


def gen_expr(draw: Any, c: Ctx, depth: int) -> list[tuple[Any, ...]]:
    """Code that pushes exactly one value."""
    kind = draw(st.sampled_from(["leaf", "leaf", "bin", "un", "call", "list", "obj", "if", "nil", "sys"]))
    if depth <= 0 or kind == "leaf":
        return gen_leaf(draw, c)
    sub = lambda: gen_expr(draw, c, depth - 1)  # noqa: E731
    nm = draw(st.integers(0, len(c.image.names) - 1))
    if kind == "bin":
        return sub() + sub() + [(draw(st.sampled_from(["ADD", "SUB", "EQ", "LT", "GET_IDX", "RANGE"])),)]
    if kind == "un":
        return sub() + [(draw(st.sampled_from(["NEG", "NOT"])),)]
    n = draw(st.integers(0, 2))
    args = [ins for _ in range(n) for ins in sub()]
    if kind == "call":
        return sub() + args + [("CALL", n)]
    if kind == "list":
        return args + [(draw(st.sampled_from(["MAKE_LIST", "CONCAT"])), n)]
    if kind == "obj":
        values = [ins for _ in range(n) for ins in sub()]  # fresh code: labels must not repeat
        return args + values + [("MAKE_OBJ", n)]
    if kind == "sys":
        return args + [("SYSCALL", nm, n)]
    a, b = c.label(), c.label()
    if kind == "nil":
        return sub() + [("JUMP_IF_NIL", a), ("GET_FIELD", nm), ("label", a)]
    return sub() + [("JUMP_UNLESS", a)] + sub() + [("JUMP", b), ("label", a)] + sub() + [("label", b)]


def gen_stmt(draw: Any, c: Ctx, depth: int) -> list[tuple[Any, ...]]:
    """Code that leaves the stack as it found it."""
    roles = {"local": "value", "cell": "cell", "for": "iter", "range": "iter", "for2": "pairs"}
    kinds = ["pop", "global", "while"] + [k for k, role in roles.items() if c.slots[role]]
    kind = draw(st.sampled_from(kinds))
    e = gen_expr(draw, c, depth)
    if kind == "pop":
        return e + [("POP",)]
    if kind == "global":
        return e + [("STORE_GLOBAL", draw(st.integers(0, len(c.image.names) - 1)))]
    slot = draw(st.sampled_from(c.slots[roles[kind]])) if kind in roles else 0
    if kind in ("local", "cell"):
        return e + [("STORE_LOCAL" if kind == "local" else "STORE_CELL", slot)]
    body = gen_stmt(draw, c, depth - 1) if depth > 0 else []
    top, end = c.label(), c.label()
    if kind == "while":
        return [("label", top)] + e + [("JUMP_UNLESS", end)] + body + [("JUMP", top), ("label", end)]
    if kind == "range":
        return e + gen_expr(draw, c, 0) + [("ITER_RANGE", slot), ("label", top), ("FOR_NEXT", slot, end),
                                           ("POP",)] + body + [("JUMP", top), ("label", end)]
    if kind == "for":
        return e + [("ITER", slot), ("label", top), ("FOR_NEXT", slot, end), ("POP",)] + body + [
            ("JUMP", top), ("label", end)]
    return e + [("ITER2", slot), ("label", top), ("FOR_NEXT2", slot, end), ("POP",), ("POP",)] + body + [
        ("JUMP", top), ("label", end)]


def gen_body(draw: Any, c: Ctx) -> list[tuple[Any, ...]]:
    """A prologue making the cells, statements, then a returned value
    (sometimes through a tail call)."""
    out = [("MAKE_CELL", s) for s in c.slots["cell"]]
    out += [ins for _ in range(draw(st.integers(0, 3))) for ins in gen_stmt(draw, c, draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        return out + gen_expr(draw, c, 2) + [("RET",)]
    n = draw(st.integers(0, 2))
    args = [ins for _ in range(n) for ins in gen_expr(draw, c, 1)]
    return out + gen_leaf(draw, c) + args + [("CALL_TAIL", n), ("RET",)]


_CONSTS = st.one_of(st.integers(), st.integers(min_value=-(2**300), max_value=2**300),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6))


@st.composite
def images(draw: Any) -> Image:
    """A random valid Image: functions of random shape with random valid code."""
    consts = draw(st.lists(_CONSTS, min_size=1, max_size=6))
    names = draw(st.lists(st.text(max_size=6), min_size=1, max_size=5, unique=True))
    nmods = draw(st.integers(1, len(names)))
    shapes = []
    for i in range(draw(st.integers(nmods, nmods + 3))):
        nlocals = draw(st.integers(0, 5))
        upvals = [] if i < nmods else draw(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 2)), max_size=2))
        arity = 0 if i < nmods else draw(st.integers(0, nlocals))
        shapes.append(FuncDef(draw(st.integers(0, len(names) - 1)), arity, nlocals, upvals, b"", []))
    keys = draw(st.permutations(range(len(names))))[:nmods]
    modules = [ModuleEntry(k, draw(st.integers(0, len(names) - 1)), i) for i, k in enumerate(keys)]
    image = Image(consts, names, shapes, modules, draw(st.integers(0, nmods - 1)))
    for f in shapes:
        f.code = assemble(gen_body(draw, Ctx(image, f, shapes)))
        starts = [off for off, _, _ in decode(f.code)]
        chosen = draw(st.lists(st.sampled_from(starts), max_size=4, unique=True))
        f.lines = [(off, draw(st.integers(0, 2**32 - 1))) for off in sorted(chosen)]
    return image


@settings(FUZZ, max_examples=ROUND_TRIP)
@given(images())
def test_fuzz_random_images_round_trip(image: Image) -> None:
    data = ilbc.write(image)
    back = ilbc.read(data)
    assert norm(back) == norm(image)
    assert ilbc.write(back) == data


def mutate_image(image: Image, which: int, edits: list[tuple[str, int, Any]], fields: tuple[int, int, int]) -> bytes:
    """image written (unverified) after editing one function's code and perhaps its shape."""
    f = image.funcs[which % len(image.funcs)]
    f.code = mutate(f.code, edits)
    field, delta, kind = fields
    if field == 1:
        f.nlocals = max(0, f.nlocals + delta)
    elif field == 2:
        f.arity = max(0, f.arity + delta)
    elif field == 3:
        f.upvals = f.upvals + [(kind, abs(delta))]
    return ilbc.write(image, verify=False)


_FIELDS = st.tuples(st.integers(0, 6), st.integers(-2, 2), st.integers(0, 2))


@FUZZ
@given(st.sampled_from([0, 1]), st.integers(0, 3), st.lists(_EDIT, min_size=1, max_size=3), _FIELDS)
def test_fuzz_mutated_code(sample: int, which: int, edits: list[tuple[str, int, Any]],
                           fields: tuple[int, int, int]) -> None:
    image = ilbc.read(SAMPLES[sample])
    read_or_image_error(mutate_image(image, which, edits, fields))


@settings(FUZZ, max_examples=400)
@given(images(), st.integers(0, 7), st.lists(_EDIT, min_size=1, max_size=2), _FIELDS)
def test_fuzz_mutated_random_images(image: Image, which: int, edits: list[tuple[str, int, Any]],
                                    fields: tuple[int, int, int]) -> None:
    read_or_image_error(mutate_image(image, which, edits, fields))
