"""Hashes, MACs, AES, checksums and randomness (`__cry_*`).

Data, keys and IVs are a str (its UTF-8 bytes) or a buf. Digests, MACs,
ciphertexts and random bytes come back as lowercase hexadecimal strings; an
unknown algorithm is the error object `{err: "unknown hash algorithm: NAME"}`.
AES comes from the `cryptography` package: CBC with PKCS#7 padding for the
Syscall ABI's three-argument `(data, key, iv)` calls, and authenticated
AES-256-GCM with a random nonce for `__cry_seal` / `__cry_open`.
"""
from __future__ import annotations

import hashlib
import hmac
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
    **{name: getattr(hashlib, name) for name in ("sha224", "sha384", "sha3_256", "sha3_512", "blake2b", "blake2s")},
}


def _bytes(name: str, data: Any) -> bytes:
    """The bytes of a str (UTF-8) or a buf."""
    if type(want(name, data, "str", "buf")) is str:
        return utf8(name, data)
    return bytes(data)


@builtin("__cry_hash", 2)
def hash_(ctx: HostContext, data: Any, alg: Any) -> str | dict[str, Any]:
    """The lowercase hex digest of data with one of _ALGORITHMS (sha256, sha1, md5, sha512, …), or {err}."""
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


@builtin("__cry_hmac", 3)
def hmac_(ctx: HostContext, data: Any, key: Any, alg: Any) -> str | dict[str, Any]:
    """The lowercase hex HMAC of data under key with a hash of __cry_hash, or {err}."""
    name = want("__cry_hmac", alg, "str")
    if name not in _ALGORITHMS:
        return error_value(f"unknown hash algorithm: {alg}")
    digest = getattr(hashlib, name)
    return hmac.new(_bytes("__cry_hmac", key), _bytes("__cry_hmac", data), digest).hexdigest()


@builtin("__cry_eq", 2)
def eq(ctx: HostContext, a: Any, b: Any) -> bool:
    """Whether two strs or bufs hold the same bytes, in time that does not depend on where they differ."""
    return hmac.compare_digest(_bytes("__cry_eq", a), _bytes("__cry_eq", b))


def _aes_parts(name: str, key: Any, iv: Any) -> tuple[bytes, bytes] | dict[str, Any]:
    """The key (16, 24 or 32 bytes) and IV (16 bytes), or the error object."""
    k, v = _bytes(name, key), _bytes(name, iv)
    if len(k) not in (16, 24, 32):
        return error_value(f"AES needs a key of 16, 24 or 32 bytes, got {len(k)}")
    if len(v) != 16:
        return error_value(f"AES-CBC needs an IV of 16 bytes, got {len(v)}")
    return k, v


def _cbc(k: bytes, v: bytes) -> Any:
    """An AES-CBC cipher object."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    return Cipher(algorithms.AES(k), modes.CBC(v))


@builtin("__cry_aes_encrypt", 3)
def aes_encrypt(ctx: HostContext, data: Any, key: Any, iv: Any) -> str | dict[str, Any]:
    """AES-CBC with PKCS#7 padding; the ciphertext as hex, or {err} for a bad key or IV."""
    from cryptography.hazmat.primitives import padding

    parts = _aes_parts("__cry_aes_encrypt", key, iv)
    if isinstance(parts, dict):
        return parts
    padder = padding.PKCS7(128).padder()
    plain = padder.update(_bytes("__cry_aes_encrypt", data)) + padder.finalize()
    enc = _cbc(*parts).encryptor()
    return (enc.update(plain) + enc.finalize()).hex()


def _cipher_bytes(name: str, data: Any) -> bytes | None:
    """Ciphertext from hex text or a buf; None for text that is not hex."""
    if type(want(name, data, "str", "buf")) is str:
        try:
            return bytes.fromhex(data)
        except ValueError:
            return None
    return bytes(data)


@builtin("__cry_aes_decrypt", 3)
def aes_decrypt(ctx: HostContext, data: Any, key: Any, iv: Any) -> str | dict[str, Any]:
    """The UTF-8 plaintext of AES-CBC hex (or buf) ciphertext, or {err}: bad key, IV, hex or padding."""
    from cryptography.hazmat.primitives import padding

    parts = _aes_parts("__cry_aes_decrypt", key, iv)
    if isinstance(parts, dict):
        return parts
    raw = _cipher_bytes("__cry_aes_decrypt", data)
    if raw is None or len(raw) % 16:
        return error_value("cannot decrypt: the ciphertext is not whole AES blocks of hex")
    dec = _cbc(*parts).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(dec.update(raw) + dec.finalize()) + unpadder.finalize()
        return plain.decode("utf-8")
    except ValueError:  # bad padding, or bytes that are not UTF-8 (UnicodeDecodeError)
        return error_value("cannot decrypt: wrong key or IV, or the data is damaged")


def _gcm_key(name: str, key: Any) -> bytes | dict[str, Any]:
    """A 32-byte AES-256 key, or the error object."""
    k = _bytes(name, key)
    return k if len(k) == 32 else error_value(f"AES-256-GCM needs a key of 32 bytes, got {len(k)}")


@builtin("__cry_seal", 2)
def seal(ctx: HostContext, data: Any, key: Any) -> str | dict[str, Any]:
    """Authenticated encryption (AES-256-GCM): hex of a random 12-byte nonce, then the ciphertext and tag."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    k = _gcm_key("__cry_seal", key)
    if isinstance(k, dict):
        return k
    nonce = secrets.token_bytes(12)
    return (nonce + AESGCM(k).encrypt(nonce, _bytes("__cry_seal", data), None)).hex()


@builtin("__cry_open", 2)
def open_(ctx: HostContext, sealed: Any, key: Any) -> str | dict[str, Any]:
    """The UTF-8 text __cry_seal sealed, or {err} when the key is wrong or the data was changed."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    k = _gcm_key("__cry_open", key)
    if isinstance(k, dict):
        return k
    raw = _cipher_bytes("__cry_open", sealed)
    if raw is None or len(raw) < 28:
        return error_value("cannot open: not sealed data")
    try:
        return AESGCM(k).decrypt(raw[:12], raw[12:], None).decode("utf-8")
    except (InvalidTag, UnicodeDecodeError):
        return error_value("cannot open: wrong key, or the data was changed")
