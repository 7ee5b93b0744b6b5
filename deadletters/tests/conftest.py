from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection

from deadletters.tests import factories


@pytest.fixture(autouse=True)
def flaky_handler(settings: Any) -> Iterator[factories.Switch]:
    """Registers the test-only handler and resets its switch; no retries, no back-off."""
    settings.WEBHOOK_RETRY_DELAYS = []
    # Dead letters are made by failing the test topic again and again: its own breaker
    # would hold those events for a probe instead (webhooks/tests/test_outcomes.py).
    settings.TOPIC_BREAKER_THRESHOLD = 100_000
    # Logins in every test: the production hasher's cost is wasted here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    factories.SWITCH.__init__()  # type: ignore[misc]
    factories.register()
    yield factories.SWITCH
    factories.unregister()



@pytest.fixture
def calls_table(transactional_db: Any) -> Iterator[None]:
    """A table the test handler inserts into (SWITCH.count_in_table): a row there is a run
    whose work was committed. Needs real commits, hence transactional_db."""
    key = "INTEGER PRIMARY KEY" if connection.vendor == "sqlite" else "SERIAL PRIMARY KEY"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {factories.CALLS_TABLE} (id {key}, event_id BIGINT NOT NULL)")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {factories.CALLS_TABLE}")

