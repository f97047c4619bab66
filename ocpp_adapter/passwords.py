"""Charger passwords (OCPP security profile 1): salted scrypt hashes, never the password."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_LENGTH = 16


def hash_password(password: str) -> dict:
    """The stored form of a password: scheme, parameters, salt and hash (hex)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return {
        "scheme": "scrypt",
        "n": SCRYPT_N,
        "r": SCRYPT_R,
        "p": SCRYPT_P,
        "salt": salt.hex(),
        "hash": digest.hex(),
    }


def verify_password(password: str, stored: dict) -> bool:
    if stored.get("scheme") != "scrypt":
        return False
    try:
        digest = hashlib.scrypt(
            password.encode(),
            salt=bytes.fromhex(stored["salt"]),
            n=int(stored["n"]),
            r=int(stored["r"]),
            p=int(stored["p"]),
        )
    except (KeyError, ValueError):
        return False
    return hmac.compare_digest(digest.hex(), str(stored.get("hash", "")))


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
