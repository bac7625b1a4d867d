"""The ilusm ILBC reader (lib/backend/mcdr.ilu) mirrors stage0's (stage0/image/ilbc.py).

tests/selfhost/read_images.ilu reads each image with mcdr and writes it back
with mcde. A well-formed image comes back byte for byte; a malformed one is
refused with exactly the message of `ilbc.read_structure` (the layout checks;
the code checks are the verifier's). Corruptions keep the checksum right, so
they reach the checks behind it.
"""
from __future__ import annotations

import io
import random
import zlib
from pathlib import Path

import pytest
from spec_runner import spec_files

from stage0.cli.commands import run_file
from stage0.errors import ImageError
from stage0.image import ilbc
from stage0.paths import COMMITTED_IMAGE, ROOT
from stage0.seedc.driver import compile_file

DRIVER = ROOT / "tests" / "selfhost" / "read_images.ilu"


def reports(paths: list[Path]) -> dict[str, str]:
    """Run the driver over paths in one process: path -> its report line."""
    out, err = io.StringIO(), io.StringIO()
    assert run_file(str(DRIVER), [str(p) for p in paths], out, err) == 0, err.getvalue()
    lines = out.getvalue().split("\n")
    return {lines[i][4:]: lines[i + 1] for i in range(0, len(lines) - 1, 2)}


def expected(data: bytes) -> str:
    """What the driver must print for data: OK with size and function count, or the reader's error."""
    try:
        image = ilbc.read_structure(data)
    except ImageError as e:
        return f"ERROR {e}"
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
        data = images[f]
        try:
            ilbc.read(data)
        except ImageError:
            assert got[str(f)] in ("DIFF", expected(data))  # layout fine, code garbage
            continue
        assert got[str(f)] == expected(data), f


def test_malformed_images_get_the_hosts_message(images: dict[Path, bytes], got: dict[str, str]) -> None:
    bad = {f: expected(data) for f, data in images.items() if expected(data).startswith("ERROR")}
    assert len(bad) > 50
    messages = {m.split(":")[0] for m in bad.values()}
    assert len(messages) > 4, messages  # the corruptions reach several different checks
    for f, want in bad.items():
        assert got[str(f)] == want, f
