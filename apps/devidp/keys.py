"""The provider's RS256 signing key, kept on disk so tokens stay valid across restarts.

The key is generated at first use and stored at ``PANDA_DEVIDP_KEY_FILE`` (PEM, mode 0600). Creation
is atomic: the key is written to a private temporary file that is then hard-linked to the final name,
which fails if another process got there first; the loser reads the winner's key, so every web worker
signs with the same key. ``kid`` is the RFC 7638 thumbprint of the public key.

Rotation (``manage.py devidp_rotate_key``) replaces the file and keeps the old public key in
``<key file>.retired.json`` for as long as a token signed with it can live, so the JWKS still lists it.
Each process notices a replaced key file by its inode and modification time.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

KEY_SIZE = 2048


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def public_jwk(public_key: rsa.RSAPublicKey) -> dict:
    numbers = public_key.public_numbers()
    members = {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    # RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()
    return {**members, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass(frozen=True)
class SigningKey:
    private_key: rsa.RSAPrivateKey
    jwk: dict

    @property
    def kid(self) -> str:
        return self.jwk["kid"]


_cache: dict[tuple, SigningKey] = {}


def _key_file() -> Path:
    return Path(settings.PANDA_DEVIDP_KEY_FILE)


def _retired_file() -> Path:
    path = _key_file()
    return path.with_name(path.name + ".retired.json")


def _retention_seconds() -> int:
    # A retired key must verify every token it signed until the longest-lived one expires.
    return max(settings.PANDA_DEVIDP_ID_TOKEN_SECONDS, settings.PANDA_DEVIDP_ROBOT_TOKEN_SECONDS) + 3600


def _new_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _private_temp_file(directory: Path, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")  # mkstemp creates it with mode 0600
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def _ensure_key_file(path: Path) -> None:
    if path.exists():
        return
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = _private_temp_file(path.parent, _new_pem())
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process created it first: use theirs
    finally:
        os.unlink(tmp)


def signing_key() -> SigningKey:
    """The current key, created on first use; re-read when the file was replaced (rotation)."""
    path = _key_file()
    _ensure_key_file(path)
    info = path.stat()
    cache_key = (str(path), info.st_ino, info.st_mtime_ns)
    key = _cache.get(cache_key)
    if key is None:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ValueError(f"{path} does not hold an RSA private key")
        key = SigningKey(private_key=private_key, jwk=public_jwk(private_key.public_key()))
        _cache.clear()
        _cache[cache_key] = key
    return key


def _read_retired() -> list[dict]:
    try:
        entries = json.loads(_retired_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    return [entry for entry in entries if entry["retired"] + _retention_seconds() > time.time()]


def retired_jwks() -> list[dict]:
    return [entry["jwk"] for entry in _read_retired()]


def jwks() -> dict:
    current = signing_key().jwk
    return {"keys": [current] + [jwk for jwk in retired_jwks() if jwk["kid"] != current["kid"]]}


def rotate_signing_key() -> tuple[str, str]:
    """Replace the signing key; the old public key stays published. Returns ``(old kid, new kid)``."""
    path = _key_file()
    old = signing_key()
    retired = [entry for entry in _read_retired() if entry["jwk"]["kid"] != old.kid]
    retired.append({"jwk": old.jwk, "retired": time.time()})
    tmp = _private_temp_file(path.parent, json.dumps(retired).encode())
    os.replace(tmp, _retired_file())
    tmp = _private_temp_file(path.parent, _new_pem())
    os.replace(tmp, path)
    return old.kid, signing_key().kid


def forget_signing_key() -> None:
    _cache.clear()
