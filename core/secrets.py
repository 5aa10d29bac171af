"""Secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) over JSON.

The key comes from ``INVOICEBRIDGE_SECRET_KEY`` (a Fernet key, urlsafe base64 of 32 bytes) or is generated
once into ``<data dir>/secret.key`` with 0600 permissions. Losing the key makes stored tokens unreadable:
connections must then be made again; nothing else is lost.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from .errors import ConfigurationError

ENV_KEY = "INVOICEBRIDGE_SECRET_KEY"


def load_or_create_key(data_dir: Path | None) -> bytes:
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        try:
            Fernet(env.encode())
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"{ENV_KEY} is not a valid key; generate one with "
                "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
            ) from None
        return env.encode()
    if data_dir is None:
        return Fernet.generate_key()  # in-memory store: the key lives as long as the process
    path = Path(data_dir) / "secret.key"
    if path.exists():
        return path.read_bytes().strip()
    # Written whole to a private temporary file, then linked into place: the key file never exists half
    # written, and when another process starting at the same moment got there first, its key is used.
    key = Fernet.generate_key()
    tmp = path.with_name(f".secret.key.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        tmp.unlink(missing_ok=True)
    return key


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value).encode()).decode()

    def open(self, token: str | None) -> Any:
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ConfigurationError(
                "Stored secrets cannot be decrypted with the current key (was the secret key changed?); "
                "reconnect the account to store new tokens"
            ) from None

    def __repr__(self) -> str:  # never show the key
        return "SecretBox(<hidden>)"
