"""Secrets at rest: what the bot keeps that must stay secret, encrypted with `SECRET_KEY`.

`SECRET_KEY` holds one or more comma-separated Fernet keys (`python -m bot keygen` prints one).
The first encrypts; every key decrypts, so an owner rotates by putting a new key first and
dropping the old one once nothing encrypted with it is left (`cryptography`'s MultiFernet).
Fernet is authenticated encryption with a timestamp: a value changed in the database, or written
with a key the bot no longer has, fails to decrypt instead of turning into garbage.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = ["InvalidToken", "SecretBox", "new_key", "parse_keys"]


def new_key() -> str:
    """A fresh random Fernet key (url-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode("ascii")


def parse_keys(raw: str) -> list[Fernet]:
    """`key1,key2` → Fernets; raises ValueError naming the position of a malformed key (never the key)."""
    keys = [part.strip() for part in raw.split(",") if part.strip()]
    if not keys:
        raise ValueError("SECRET_KEY is empty")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise ValueError(
                f"SECRET_KEY's key number {position} is not a Fernet key "
                "(44 url-safe base64 characters; `python -m bot keygen` prints one)"
            ) from None
    return fernets


class SecretBox:
    """Encrypts with the first key, decrypts with any: the one object features use for secrets."""

    def __init__(self, raw_keys: str) -> None:
        self._fernets = parse_keys(raw_keys)
        self._multi = MultiFernet(self._fernets)

    @property
    def primary(self) -> Fernet:
        """The key that encrypts (for libraries that want a single Fernet, e.g. cookie sessions)."""
        return self._fernets[0]

    @property
    def multi(self) -> MultiFernet:
        return self._multi

    def encrypt(self, plain: str) -> str:
        return self._multi.encrypt(plain.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Raises `InvalidToken` when no configured key opens it (rotated away, or tampered with)."""
        return self._multi.decrypt(token.encode("ascii")).decode("utf-8")

    def rotate(self, token: str) -> str:
        """Re-encrypt with the first key (after a rotation); raises `InvalidToken` like `decrypt`."""
        return self._multi.rotate(token.encode("ascii")).decode("ascii")

    def __repr__(self) -> str:
        return f"SecretBox({len(self._fernets)} key(s))"
