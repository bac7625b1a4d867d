"""Hashes, checksums and randomness (`__cry_*`).

Data is a str (hashed as its UTF-8 bytes) or a buf. Digests and random
bytes come back as lowercase hexadecimal strings; an unknown algorithm is
the error object `{err: "unknown hash algorithm: NAME"}`.
"""
from __future__ import annotations

import hashlib
import secrets
import zlib
from typing import Any, Callable

from stage0.errors import RuntimeErr
from stage0.host.core import utf8, want, want_int
from stage0.host.registry import HostContext, builtin, error_value

_ALGORITHMS: dict[str, Callable[[bytes], Any]] = {
    "sha256": hashlib.sha256,
    "sha1": lambda data: hashlib.sha1(data, usedforsecurity=False),
    "md5": lambda data: hashlib.md5(data, usedforsecurity=False),
    "sha512": hashlib.sha512,
}


def _bytes(name: str, data: Any) -> bytes:
    """The bytes of a str (UTF-8) or a buf."""
    if type(want(name, data, "str", "buf")) is str:
        return utf8(name, data)
    return bytes(data)


@builtin("__cry_hash", 2)
def hash_(ctx: HostContext, data: Any, alg: Any) -> str | dict[str, Any]:
    """The lowercase hex digest of data with sha256, sha1, md5 or sha512, or {err}."""
    make = _ALGORITHMS.get(want("__cry_hash", alg, "str"))
    if make is None:
        return error_value(f"unknown hash algorithm: {alg}")
    return str(make(_bytes("__cry_hash", data)).hexdigest())


@builtin("__cry_crc32", 1)
def crc32(ctx: HostContext, data: Any) -> int:
    """The CRC-32 (zlib) of a str's UTF-8 bytes or a buf, as an unsigned integer."""
    return zlib.crc32(_bytes("__cry_crc32", data)) & 0xFFFF_FFFF


@builtin("__cry_random", 1)
def random(ctx: HostContext, n: Any) -> str:
    """n cryptographically random bytes as a lowercase hex string."""
    count = want_int("__cry_random", n)
    if not 0 <= count <= 1 << 24:
        raise RuntimeErr(f"__cry_random expects a count from 0 to 16777216, got {count}")
    return secrets.token_hex(count)
