"""Two replays of one dead letter at the same moment run its handler once."""

from __future__ import annotations

import pytest
from django.db import connection

from conftest import run_concurrently
from deadletters.models import DeadLetter
from deadletters.tests.factories import CALLS_TABLE, make_dead_letters


@pytest.fixture
def calls_table(transactional_db):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {CALLS_TABLE} (id SERIAL PRIMARY KEY, event_id BIGINT NOT NULL)")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {CALLS_TABLE}")


@pytest.mark.postgres
def test_it_runs_the_handler_once_when_two_replay_the_same_dead_letter(calls_table, flaky_handler):
    (dl,) = make_dead_letters()
    flaky_handler.fail = False
    flaky_handler.count_in_table = True
    flaky_handler.sleep = 0.3  # hold the first replay inside the handler while the second arrives
    before = flaky_handler.calls
    outcomes = run_concurrently(lambda: DeadLetter.objects.get(pk=dl.pk).replay(None, source="admin").outcome)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {CALLS_TABLE} WHERE event_id = %s", [dl.event_id])  # noqa: S608
        committed_runs = cursor.fetchone()[0]
    assert committed_runs == 1
    assert flaky_handler.calls - before == 1
    assert sorted(outcomes) == ["ok", "skipped"]
    dl.refresh_from_db()
    assert dl.status == "resolved" and dl.replay_count == 1
    assert dl.replays.count() == 2
