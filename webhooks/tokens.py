"""Encryption at rest for shops' offline access tokens (Fernet, from `cryptography`).

The key comes from TOKEN_ENCRYPTION_KEY (a urlsafe base64 Fernet key: generate one with
`python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`).
Only under DEBUG or tests, and only when the variable is empty, a key is derived from
SECRET_KEY so a laptop works without setup; production refuses to start without one
(system check webhooks.E001) and every use raises a clear error instead.

Below webhooks.models: Shop.set_offline_token and Shop.offline_token call it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


class TokenUnreadable(Exception):
    """The stored ciphertext does not decrypt with the current key (key changed)."""


def encryption_key() -> bytes:
    key: str = settings.TOKEN_ENCRYPTION_KEY
    if key:
        return key.encode()
    if settings.DEBUG or settings.TESTING:
        # A dev-only key: stable across restarts of one laptop setup, useless elsewhere.
        return base64.urlsafe_b64encode(hashlib.sha256(f"token-key:{settings.SECRET_KEY}".encode()).digest())
    raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEY is required to store or read shops' offline tokens.")


def _fernet() -> Fernet:
    try:
        return Fernet(encryption_key())
    except ValueError:
        raise ImproperlyConfigured("TOKEN_ENCRYPTION_KEY is not a valid Fernet key (32 urlsafe base64 bytes).") from None


def encrypt(token: str) -> str:
    return _fernet().encrypt(token.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        raise TokenUnreadable("the offline token does not decrypt with TOKEN_ENCRYPTION_KEY") from None
