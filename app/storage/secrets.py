"""Secrets kept outside the database: the key for PIN verifiers and the audit chain."""

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

SECRET_BYTES = 32


@dataclass(frozen=True)
class Keys:
    """Keys derived from the one secret, one per use, so one leaking says nothing of another."""

    pin: bytes
    audit: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> "Keys":
        def derive(purpose: bytes) -> bytes:
            return hmac.new(secret, b"rounds/" + purpose, hashlib.sha256).digest()

        return cls(pin=derive(b"pin"), audit=derive(b"audit"))


def load_or_create_secret(path: Path) -> bytes:
    """Read the secret file, creating it (mode 0600) with a random secret on first start."""
    if path.exists():
        secret = bytes.fromhex(path.read_text().strip())
        if len(secret) < SECRET_BYTES:
            raise ValueError(f"{path} holds too short a secret")
        return secret
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(SECRET_BYTES)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret.hex() + "\n")
    return secret
