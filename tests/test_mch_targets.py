"""mch's object code for the other targets runs with the results of x86-64's native code:
arm64 under the unicorn emulator, wasm32 (after mch.wasm's link step) under wasmtime.

The three functions of test_mch.MODULE are built once per target by an ilusm
program; x86-64 runs them natively through mch.link; arm64 lays out its ELF
object in an emulated machine, applies the relocations of its code (the call
from scaled to hyp2, the address of scaled's constant) and calls each function
by its symbol; wasm32 instantiates the linked module.
"""
from __future__ import annotations

import struct
from typing import Any

import pytest
from test_mch import WITH_FFI, module, run

from stage0.fast.vm import FastVM
from stage0.host.mch import native_name

CASES = [("tri", (10,)), ("tri", (100000,)), ("tri", (0,)), ("hyp2", (3.0, 4.0)), ("hyp2", (0.1, -2.5)),
         ("scaled", (3.0,)), ("scaled", (1e300,))]


def built(target: str, make: str) -> bytes:
    """The bytes of mch.<make>(m) for the module built for target."""
    status, out, err = run(FastVM, module(target) + f"prn(__buf_hex(mch.{make}(m)))\n", WITH_FFI)
    assert (status, err) == (0, ""), err
    return bytes.fromhex(out.strip())


def native_results() -> list[Any]:
    """Each case on x86-64, linked and called natively."""
    if native_name() != "x86-64":
        pytest.skip("mch links on x86-64 only")
    calls = ", ".join(f"n.{f}({', '.join(repr(a) for a in args)})" for f, args in CASES)
    text = (module("x86-64") + f"n = mch.link(m)\nr = [{calls}]\n"
            "r <- r: prn(__buf_hex(__buf_put_f64(__buf_new(0), r)))\n")
    status, out, err = run(FastVM, text, WITH_FFI)
    assert (status, err) == (0, ""), err
    return [struct.unpack("<d", bytes.fromhex(h))[0] for h in out.split()]


def _patch(insn: int, value: int, lo: int, width: int) -> int:
    """insn with bits [lo, lo + width) replaced by the low bits of value."""
    mask = ((1 << width) - 1) << lo
    return (insn & ~mask) | ((value << lo) & mask)


# The AArch64 relocations the objects use: a call (CALL26) and a constant's address built by
# movz/movk (MOVW_UABS_G0_NC .. G3), each as (value from S + A and P) -> patched instruction.
AARCH64_RELOCS = {
    283: lambda insn, s, p: _patch(insn, (s - p) >> 2, 0, 26),
    264: lambda insn, s, p: _patch(insn, s, 5, 16),
    266: lambda insn, s, p: _patch(insn, s >> 16, 5, 16),
    268: lambda insn, s, p: _patch(insn, s >> 32, 5, 16),
    269: lambda insn, s, p: _patch(insn, s >> 48, 5, 16),
}


def load_elf(obj: bytes, base: int) -> tuple[bytes, dict[str, int]]:
    """A little-endian ELF64 relocatable object laid out from address base: its allocated
    sections one after another, the relocations of its code applied. Gives the memory image
    and each function's address."""
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    secs = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + k * shentsize) for k in range(shnum)]
    image, where = bytearray(), {}
    for k, (_, _, flags, _, off, size, _, _, _, _) in enumerate(secs):
        if flags & 2:  # SHF_ALLOC
            image += bytes(-len(image) % 16)
            where[k] = base + len(image)
            image += obj[off:off + size]
    symtab = next(s for s in secs if s[1] == 2)
    syms = [struct.unpack_from("<IBBHQQ", obj, off) for off in range(symtab[4], symtab[4] + symtab[5], 24)]

    def address(sym: tuple[Any, ...]) -> int:
        return where[sym[3]] + sym[4]

    for _, typ, _, _, off, size, _, info, _, _ in secs:
        if typ == 4 and secs[info][2] & 4:  # SHT_RELA for an executable section
            for at in range(off, off + size, 24):
                r_offset, r_info, r_addend = struct.unpack_from("<QQq", obj, at)
                p = where[info] + r_offset
                insn, = struct.unpack_from("<I", image, p - base)
                insn = AARCH64_RELOCS[r_info & 0xFFFFFFFF](insn, address(syms[r_info >> 32]) + r_addend, p)
                struct.pack_into("<I", image, p - base, insn)
    strtab = secs[symtab[6]]
    funcs = {obj[strtab[4] + st[0]:obj.index(b"\0", strtab[4] + st[0])].decode(): address(st)
             for st in syms if st[1] & 0xF == 2}  # STT_FUNC
    return bytes(image), funcs


def run_arm64(image: bytes, code: int, at: int, args: tuple[Any, ...]) -> Any:
    """Call the arm64 function at address `at` of image (loaded at code) under unicorn (AAPCS64:
    ints in x0.., floats in d0..); gives its result."""
    from unicorn import UC_ARCH_ARM64, UC_MODE_ARM, Uc
    from unicorn.arm64_const import (
        UC_ARM64_REG_CPACR_EL1,
        UC_ARM64_REG_D0,
        UC_ARM64_REG_LR,
        UC_ARM64_REG_SP,
        UC_ARM64_REG_X0,
    )

    stack, stop = 0x400000, code + 0xF0000
    uc = Uc(UC_ARCH_ARM64, UC_MODE_ARM)
    uc.mem_map(code, 0x100000)
    uc.mem_map(stack - 0x10000, 0x20000)
    uc.mem_write(code, image)
    uc.reg_write(UC_ARM64_REG_CPACR_EL1, 0x300000)  # let the code use the FP registers
    uc.reg_write(UC_ARM64_REG_SP, stack)
    uc.reg_write(UC_ARM64_REG_LR, stop)
    ints = floats = 0
    for a in args:
        if isinstance(a, float):
            uc.reg_write(UC_ARM64_REG_D0 + floats, struct.unpack("<Q", struct.pack("<d", a))[0])
            floats += 1
        else:
            uc.reg_write(UC_ARM64_REG_X0 + ints, a & (2**64 - 1))
            ints += 1
    uc.emu_start(at, stop)
    if floats:
        return struct.unpack("<d", struct.pack("<Q", uc.reg_read(UC_ARM64_REG_D0)))[0]
    return float(uc.reg_read(UC_ARM64_REG_X0))


def test_arm64_object_code_gives_the_native_results() -> None:
    pytest.importorskip("unicorn")
    expected = native_results()
    code = 0x100000
    image, funcs = load_elf(built("arm64", "obj"), code)
    assert set(funcs) == {"tri", "hyp2", "scaled"}
    for (f, args), want in zip(CASES, expected):
        assert run_arm64(image, code, funcs[f], args) == want, (f, args)


def test_wasm32_linked_module_gives_the_native_results() -> None:
    wasmtime = pytest.importorskip("wasmtime")
    expected = native_results()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    mod = wasmtime.Module(engine, built("wasm32", "wasm"))
    assert [e.name for e in mod.exports] == ["tri", "hyp2", "scaled"]
    linker = wasmtime.Linker(engine)
    memory = wasmtime.Memory(store, wasmtime.MemoryType(wasmtime.Limits(0, None)))
    linker.define(store, "env", "__linear_memory", memory)   # what the object imports
    exports = linker.instantiate(store, mod).exports(store)
    for (f, args), want in zip(CASES, expected):
        assert float(exports[f](store, *args)) == want, (f, args)


def test_wasm_needs_a_wasm32_module() -> None:
    status, out, _ = run(FastVM, module("arm64") + "prn(try(\\() mch.wasm(m)).err)\n", WITH_FFI)
    assert out == "mch.wasm: the module's target is arm64, not wasm32\n"
