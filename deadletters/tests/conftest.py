from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from deadletters.tests import factories


@pytest.fixture(autouse=True)
def flaky_handler(settings: Any) -> Iterator[factories.Switch]:
    """Registers the test-only handler and resets its switch; no retries, no back-off."""
    settings.WEBHOOK_RETRY_DELAYS = []
    # Logins in every test: the production hasher's cost is wasted here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    factories.SWITCH.__init__()  # type: ignore[misc]
    factories.register()
    yield factories.SWITCH
    factories.unregister()

