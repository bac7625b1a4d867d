"""Fuzzing with real compiled images: every mutation is rejected cleanly or loads.

Images come from the seed compiler (spec programs and the whole lib/ tree).
A mutated image must either be refused by the reader with ImageError, or be
accepted and then load into the VM without any other exception: the
verifier must cover everything the loader and the VM rely on. Mutations are
re-framed (length and CRC fixed) so they reach the deep checks, not just
the checksum. Through the CLI, a corrupt or truncated file is one line on
stderr and exit status 1.
"""
from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage0.cli.commands import cli
from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.interp.loader import load
from stage0.seedc.driver import compile_file, compile_tree

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("ILUSM_FUZZ_EXAMPLES", "1500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PROGRAMS = ["closures/counter.ilu", "mat/mat_expression.ilu", "loops/pairs_obj.ilu"]


def _real_images() -> list[bytes]:
    """A few compiled spec programs and the lib/ tree."""
    out = [ilbc.write(compile_tree(ROOT / "lib"))]
    for rel in sorted((ROOT / "tests" / "spec").glob("*/*.ilu"))[:40:8]:
        try:
            out.append(ilbc.write(compile_file(rel)))
        except Exception:  # helper modules or compile-error programs
            continue
    return out


IMAGES = _real_images()


def reframe(payload: bytes) -> bytes:
    """A header with the right length and CRC for this payload."""
    return ilbc.MAGIC + struct.pack("<HHII", ilbc.VERSION, 0, len(payload), zlib.crc32(payload)) + payload


def accept_or_reject(data: bytes) -> None:
    """Reader refuses with ImageError, or the image loads."""
    try:
        image = ilbc.read(data)
    except ImageError as e:
        assert "\n" not in str(e)
        return
    load(image)


@FUZZ
@given(st.sampled_from(range(len(IMAGES))), st.data())
def test_fuzz_real_images_reframed(which: int, data: st.DataObject) -> None:
    payload = bytearray(IMAGES[which][ilbc.HEADER_SIZE:])
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(payload) - 1))
        payload[pos] = data.draw(st.integers(0, 255))
    accept_or_reject(reframe(bytes(payload)))


@FUZZ
@given(st.sampled_from(range(len(IMAGES))), st.data())
def test_fuzz_real_images_raw(which: int, data: st.DataObject) -> None:
    raw = bytearray(IMAGES[which])
    cut = data.draw(st.integers(0, len(raw)))
    del raw[cut:]
    if raw:
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] ^= data.draw(st.integers(1, 255))
    accept_or_reject(bytes(raw))


def test_cli_rejects_damaged_files(tmp_path: Path) -> None:
    """Through `ilusm run`: exit 1, one line, no traceback, for many damaged files; the
    self-hosted VM (`--engine vm`) says exactly what the reference interpreter says."""
    good = IMAGES[1]
    runner = CliRunner()
    for i, cut in enumerate(range(0, len(good), max(1, len(good) // 60))):
        path = tmp_path / f"bad{i}.ilbc"
        damaged = bytearray(good[:cut] if i % 2 else good)
        if i % 2 == 0:
            damaged[min(cut, len(damaged) - 1)] ^= 0x5A
        path.write_bytes(bytes(damaged))
        result = runner.invoke(cli, ["run", "--engine", "ref", str(path)], catch_exceptions=False)
        on_vm = runner.invoke(cli, ["run", "--engine", "vm", str(path)], catch_exceptions=False)
        assert (on_vm.exit_code, on_vm.stdout, on_vm.stderr) == (result.exit_code, result.stdout, result.stderr)
        if result.exit_code == 0:
            continue  # a flip inside a string constant can leave a valid program
        assert result.exit_code == 1, (i, result.stderr)
        assert result.stderr.startswith("error: bad image:") and result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_images_are_valid_to_begin_with() -> None:
    for data in IMAGES:
        load(ilbc.read(data))
    assert len(IMAGES) >= 4 and isinstance(io.StringIO(), io.StringIO)
