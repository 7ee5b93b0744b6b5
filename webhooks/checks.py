"""System checks for the processing pipeline's settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def check_token_key(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    if settings.TOKEN_ENCRYPTION_KEY or settings.DEBUG or settings.TESTING:
        return []
    return [
        Error(
            "TOKEN_ENCRYPTION_KEY is empty: shops' offline tokens cannot be stored or read.",
            hint="Set it to a Fernet key: python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'",
            id="webhooks.E001",
        )
    ]
