"""Encryption of tokens at rest: Fernet with key rotation (new key encrypts, every listed key decrypts)."""
from __future__ import annotations

import functools
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from integration.config import Settings, get_settings


class EncryptionKeyError(ValueError):
    pass


@functools.lru_cache(maxsize=32)
def _dev_key(var_dir: Path) -> str:
    """A per-checkout key kept in var/ (0600), so a dev setup needs no configuration (cached: read once)."""
    path = var_dir / "encryption_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


class TokenCipher:
    """Encrypts with the first key of LEADRELAY_ENCRYPTION_KEYS; decrypts with any of them."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise EncryptionKeyError("no encryption key configured (LEADRELAY_ENCRYPTION_KEYS)")
        try:
            self._fernet = MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise EncryptionKeyError("LEADRELAY_ENCRYPTION_KEYS must be comma-separated Fernet keys "
                                     "(make one: python -c 'from cryptography.fernet import Fernet; "
                                     "print(Fernet.generate_key().decode())')") from exc

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> TokenCipher:
        """The configured keys (LEADRELAY_ENCRYPTION_KEYS); none: the dev key kept in var/."""
        settings = settings or get_settings()
        return cls(list(settings.encryption_keys) or [_dev_key(settings.var_dir)])

    def encrypt(self, plaintext: str) -> bytes:
        return self._fernet.encrypt(plaintext.encode())

    def decrypt(self, ciphertext: bytes) -> str:
        try:
            return self._fernet.decrypt(bytes(ciphertext)).decode()
        except InvalidToken as exc:
            raise EncryptionKeyError("a stored token cannot be decrypted with the configured keys; "
                                     "keep the old key in LEADRELAY_ENCRYPTION_KEYS after the new one") from exc

    def rotate(self, ciphertext: bytes) -> bytes:
        """Re-encrypt under the current (first) key."""
        return self._fernet.rotate(bytes(ciphertext))
