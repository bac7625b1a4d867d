"""The ilusm ILBC reader and verifier (lib/backend/mcdr.ilu, mcdv.ilu) mirror stage0's
(stage0/image/ilbc.py, verify.py).

tests/selfhost/read_images.ilu reads each image with mcdr, verifies it with
mcdv and writes it back with mcde. A well-formed image comes back byte for
byte; a malformed one is refused with exactly the message of
`ilbc.read_structure` (the layout checks), and one with bad code with exactly
the message of `verify.validate`. Corruptions keep the checksum right, so
they reach the checks behind it; the verifier's own hostile images
(tests/test_verify_kinds.py) are among them.
"""
from __future__ import annotations

import io
import random
import re
import zlib
from pathlib import Path

import pytest
from spec_runner import spec_files
from test_verify_kinds import BAD as BAD_CODE
from test_verify_kinds import image_of

from stage0.cli.commands import run_file
from stage0.errors import ImageError
from stage0.host.caps import Policy
from stage0.image import ilbc
from stage0.image.verify import validate
from stage0.paths import COMMITTED_IMAGE, ROOT
from stage0.seedc.driver import compile_file

DRIVER = ROOT / "tests" / "selfhost" / "read_images.ilu"


def reports(paths: list[Path]) -> dict[str, str]:
    """Run the driver over paths in one process: path -> its report line."""
    out, err = io.StringIO(), io.StringIO()
    # the driver reads images wherever the test put them, as a toolchain would: no file sandbox
    assert run_file(str(DRIVER), [str(p) for p in paths], out, err, grant=Policy()) == 0, err.getvalue()
    lines = out.getvalue().split("\n")
    return {lines[i][4:]: lines[i + 1] for i in range(0, len(lines) - 1, 2)}


def expected(data: bytes) -> str:
    """What the driver must print for data: OK with size and function count, the reader's
    error (ERROR), or the verifier's (INVALID)."""
    try:
        image = ilbc.read_structure(data)
    except ImageError as e:
        return f"ERROR {e}"
    try:
        validate(image)
    except ImageError as e:
        return f"INVALID {e}"
    return f"OK {len(data)} {len(image.funcs)}"


def with_crc(data: bytearray) -> bytes:
    """data with its header's checksum recomputed over the payload."""
    data[12:16] = zlib.crc32(bytes(data[ilbc.HEADER_SIZE:])).to_bytes(4, "little")
    return bytes(data)


def corruptions(good: bytes, rng: random.Random) -> list[bytes]:
    """Truncations, lengths and counts made too large, flipped bytes (checksums kept right)."""
    out = [b"", b"IL", b"ILBX" + good[4:], good[:6], good[:15], good + b"\0"]
    out += [with_crc(bytearray(good[:n])) for n in range(16, len(good), max(1, len(good) // 40))]
    for _ in range(60):
        data = bytearray(good)
        data[rng.randrange(16, len(data))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        out.append(with_crc(data))
    bad_version = bytearray(good)
    bad_version[4] = 9
    out.append(bytes(bad_version))
    return out


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, bytes]:
    """The committed image, 40 compiled spec programs and corruptions of three of them, as files."""
    folder = tmp_path_factory.mktemp("images")
    rng = random.Random(1)
    programs = [p for p in spec_files(ROOT / "tests" / "spec") if "syntax_errors" not in str(p)][::10][:45]
    datas = [COMMITTED_IMAGE.read_bytes()]
    for p in programs:
        try:
            datas.append(ilbc.write(compile_file(p)))
        except Exception:  # a compile-error program has no image
            continue
    bad = [c for good in datas[1:4] for c in corruptions(good, rng)]
    bad += [ilbc.write(image_of(code, nlocals, others=others), verify=False)
            for _, code, nlocals, others, _ in BAD_CODE]
    files = {}
    for i, data in enumerate(datas + bad):
        f = folder / f"i{i:03d}.ilbc"
        f.write_bytes(data)
        files[f] = data
    return files


@pytest.fixture(scope="module")
def got(images: dict[Path, bytes]) -> dict[str, str]:
    """The driver's report on every image (one process)."""
    return reports(list(images))


def test_well_formed_images_read_back_to_the_same_bytes(images: dict[Path, bytes], got: dict[str, str]) -> None:
    good = [f for f, data in images.items() if expected(data).startswith("OK")]
    assert len(good) > 40
    for f in good:
        assert got[str(f)] == expected(images[f]), f


def test_malformed_images_get_the_hosts_message(images: dict[Path, bytes], got: dict[str, str]) -> None:
    bad = {f: expected(data) for f, data in images.items() if expected(data).startswith("ERROR")}
    assert len(bad) > 50
    messages = {m.split(":")[0] for m in bad.values()}
    assert len(messages) > 4, messages  # the corruptions reach several different checks
    for f, want in bad.items():
        assert got[str(f)] == want, f


def test_bad_code_gets_the_verifiers_message(images: dict[Path, bytes], got: dict[str, str]) -> None:
    """Images whose layout is fine but whose code the host's verifier refuses: mcdv refuses each
    with the same message (unknown opcodes, cut-off and needless WIDE, indices, jumps, stack
    depths, slot kinds, captures)."""
    bad = {f: expected(data) for f, data in images.items() if expected(data).startswith("INVALID")}
    assert len(bad) > 30
    for f, want in bad.items():
        assert got[str(f)] == want, f
    kinds = {re.sub(r'[0-9]+|"[^"]*"', "N", m) for m in bad.values()}
    assert len(kinds) > 12, kinds  # they reach many different checks
