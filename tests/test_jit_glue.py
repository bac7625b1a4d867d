"""The JIT's glue (stage0/jit/glue.py): what a cached description must look like before code is
generated from it, and the packing of generic values (kind and 64 bits) into the slot array."""
from __future__ import annotations

import copy
import ctypes
import io
import math
import re
import struct
from pathlib import Path
from typing import Any, Callable

import pytest

from stage0.fast.vm import FastVM
from stage0.host.mch import native_name
from stage0.jit.glue import TAG, pack, unpack, valid_desc
from stage0.jit.runtime import Jit
from stage0.paths import ROOT
from stage0.seedc.driver import compile_file

pytestmark = pytest.mark.skipif(native_name() != "x86-64", reason="traces run natively on x86-64 only")

GENERIC = """use jit
jit.enable_type_spec(fls)
f(n) =
    x = 0
    i <- 1..n: x = if x > 3: x / 2 | x + 1
    x
prn f(50)
"""


@pytest.fixture(scope="module")
def desc() -> dict[str, Any]:
    """A real generic trace's description."""
    jit = Jit({"threshold": 1}, short_ops=0)
    FastVM(compile_file(Path("g.ilu"), source=GENERIC), out=io.StringIO(), jit=jit).run_main()
    return jit.compiled[0]


def test_a_generic_trace_describes_its_tags(desc: dict[str, Any]) -> None:
    assert valid_desc(desc)
    assert desc["layout"]["stride"] == 2 and ["any"] == [k for _, k in desc["live_in"] if k == "any"]


CHANGES: list[Callable[[dict[str, Any]], None]] = [
    lambda d: d["layout"].update(stride=3),
    lambda d: d["layout"].update(stride=True),
    lambda d: d["layout"].update(tags=-1),
    lambda d: d["layout"].pop("tags"),
    lambda d: d["live_in"].append([1, "obj"]),
    lambda d: d["exits"][0]["stack"].append("str"),
    lambda d: d["exits"][0]["locals"].append([0, "anything"]),
]


@pytest.mark.parametrize("change", CHANGES, ids=[str(i) for i in range(len(CHANGES))])
def test_a_description_of_another_shape_is_refused(desc: dict[str, Any],
                                                   change: Callable[[dict[str, Any]], None]) -> None:
    bad = copy.deepcopy(desc)
    change(bad)
    assert not valid_desc(bad)


def words() -> tuple[Any, Any]:
    """Four slot words, and the same words seen as doubles (as make_glue has them)."""
    slots = (ctypes.c_int64 * 4)()
    return slots, (ctypes.c_double * 4).from_buffer(slots)


@pytest.mark.parametrize("value", [0, -1, (1 << 63) - 1, -(1 << 63), 0.0, -0.0, math.inf, 5e-324, 1.5, True,
                                   False, None])
def test_generic_values_round_trip(value: Any) -> None:
    slots, doubles = words()
    assert pack(slots, doubles, value, 1, 2)
    back = unpack(slots, doubles, 1, 2)
    assert (type(back), repr(back)) == (type(value), repr(value))  # repr tells -0.0 from 0.0


def test_nan_keeps_its_bits() -> None:
    slots, doubles = words()
    nan = struct.unpack("<d", struct.pack("<q", 0x7FF8000000000001))[0]
    assert pack(slots, doubles, nan, 0, 3)
    assert struct.pack("<d", unpack(slots, doubles, 0, 3)) == struct.pack("<d", nan)


@pytest.mark.parametrize("value", [1 << 63, -(1 << 63) - 1, "s", [], {}])
def test_values_a_generic_trace_cannot_hold_fail_the_entry(value: Any) -> None:
    assert not pack(*words(), value, 0, 1)


def test_the_tags_are_trc_ilus() -> None:
    """glue.TAG and lib/backend/trc.ilu's TAG give each kind the same tag."""
    text = (ROOT / "lib" / "backend" / "trc.ilu").read_text()
    line = next(x for x in text.splitlines() if x.startswith("TAG = "))
    trc = {k: int(v) for k, v in re.findall(r'"?(\w+)"?: (\d+)', line)}
    assert trc == {"nil": TAG["NoneType"], "bool": TAG["bool"], "int": TAG["int"], "flt": TAG["float"]}
