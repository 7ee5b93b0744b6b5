"""Two replays of one dead letter at the same moment run its handler once."""

from __future__ import annotations

import pytest
from django.db import connection

from conftest import run_concurrently
from deadletters.models import DeadLetter
from deadletters.replay import replay_many, replay_one
from deadletters.tests.factories import CALLS_TABLE, committed_runs, make_dead_letters


@pytest.mark.postgres
def test_it_runs_the_handler_once_when_two_replay_the_same_dead_letter(calls_table, flaky_handler):
    (dl,) = make_dead_letters()
    flaky_handler.fail = False
    flaky_handler.count_in_table = True
    flaky_handler.sleep = 0.3  # hold the first replay inside the handler while the second arrives
    before = flaky_handler.calls
    outcomes = run_concurrently(lambda: replay_one(DeadLetter.objects.get(pk=dl.pk), None, source="admin").outcome)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {CALLS_TABLE} WHERE event_id = %s", [dl.event_id])  # noqa: S608
        committed_runs = cursor.fetchone()[0]
    assert committed_runs == 1
    assert flaky_handler.calls - before == 1
    assert sorted(outcomes) == ["ok", "skipped"]
    dl.refresh_from_db()
    assert dl.status == "resolved" and dl.replay_count == 1
    assert dl.replays.count() == 2


@pytest.mark.postgres
def test_it_runs_each_handler_once_when_two_bulk_replays_race(calls_table, flaky_handler, settings):
    dead_letters = make_dead_letters(6)
    ids = [d.pk for d in dead_letters]
    settings.DEADLETTER_REPLAY_CHUNK = 2  # several chunks each, so the two interleave
    flaky_handler.fail = False
    flaky_handler.count_in_table = True
    flaky_handler.sleep = 0.05
    before = flaky_handler.calls
    runs = run_concurrently(lambda: {r.dead_letter_id: r.outcome for r in replay_many(ids, None)})
    assert len(runs) == 2
    assert committed_runs() == {d.event_id: 1 for d in dead_letters}
    assert flaky_handler.calls - before == 6  # the loser never even started a handler
    for pk in ids:
        assert sorted([runs[0][pk], runs[1][pk]]) == ["ok", "skipped"]
    assert set(DeadLetter.objects.filter(pk__in=ids).values_list("status", "replay_count")) == {("resolved", 1)}
