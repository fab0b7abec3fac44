"""Encryption of billing-engine keys with the instance master key (Fernet: AES-128-CBC + HMAC)."""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

MASTER_KEY_FILE = "master.key"
MASTER_KEY_ENV = "TOLLWAY_MASTER_KEY"


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)
        self._key = key

    def derive(self, purpose: bytes) -> bytes:
        """A key for one purpose, HMAC(master key, purpose): never a constant, never the master key."""
        return hmac.new(self._key, purpose, hashlib.sha256).digest()

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise ValueError("secret cannot be decrypted with this instance's master key") from None


def load_or_create_master_key(data_dir: Path) -> bytes:
    """The master key comes from TOLLWAY_MASTER_KEY or ``<data_dir>/master.key`` (made once, 0600)."""
    from_env = os.environ.get(MASTER_KEY_ENV)
    if from_env:
        return from_env.encode("ascii")
    path = data_dir / MASTER_KEY_FILE
    if path.exists():
        return path.read_bytes().strip()
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key
