"""A replay that dies holding its claims: given back to dead, never into a worker's
retries (an event that died of a PermanentError must not run again by itself)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from deadletters import replay
from deadletters.models import DeadLetter, DeadLetterStatus, ReplayRecord
from deadletters.tests.test_admin_actions import run_action
from webhooks import processing
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tests import worker_handlers  # noqa: F401  (registers the tests/ handlers)
from webhooks.tests.support import store_event


def dead_letters(script: list[str], count: int = 2) -> list[DeadLetter]:
    """Events that died of a PermanentError on their first attempt, budget left over."""
    events = [store_event("tests/scripted", {"script": ["permanent", *script]}) for _ in range(count)]
    for event in events:
        assert processing.process_event(event.pk) == EventStatus.DEAD
    return [DeadLetter.objects.get(event=event) for event in events]


@pytest.mark.django_db
def test_it_gives_the_claims_back_when_a_chunk_is_shut_down(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    letters = dead_letters(["system-exit"])
    with pytest.raises(SystemExit):
        replay.replay_chunk([d.pk for d in letters])
    for letter in letters:
        letter.refresh_from_db()
        event = WebhookEvent.objects.get(pk=letter.event_id)
        assert (event.status, event.lease_expires_at) == (EventStatus.DEAD, None)
        assert letter.status == DeadLetterStatus.OPEN
    assert processing.sweep(now=timezone.now() + timedelta(hours=1)) == 0


@pytest.mark.django_db
def test_it_sweeps_a_dead_replays_event_back_to_dead(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    letter = dead_letters(["ok"], count=1)[0]
    # A replay claims the event, then its process is killed: nothing gives the claim back.
    lease, events = processing.claim_many([letter.event_id])
    assert processing.holds(events[letter.event_id], lease)
    OrmQ.objects.all().delete()
    assert processing.sweep(now=lease + timedelta(seconds=1)) == 1
    event = WebhookEvent.objects.get(pk=letter.event_id)
    assert (event.status, event.lease_expires_at, event.next_attempt_at) == (EventStatus.DEAD, None, None)
    assert "the replay died" in event.last_error
    assert not OrmQ.objects.exists()  # no retry of its own: only a replay runs it again
    letter.refresh_from_db()
    assert letter.status in (DeadLetterStatus.OPEN, DeadLetterStatus.REPLAYING)


@pytest.mark.django_db
def test_it_leaves_a_long_replay_chunk_its_claims(settings):
    settings.WEBHOOK_LEASE_SECONDS = 120
    settings.DEADLETTER_REPLAY_LEASE_SECONDS = 300
    letter = dead_letters(["ok"], count=1)[0]
    lease, events = processing.claim_many([letter.event_id])
    # The chunk is still running 200 s later (past a worker's lease): the sweeper leaves it alone.
    assert processing.sweep(now=timezone.now() + timedelta(seconds=200)) == 0
    assert processing.holds(WebhookEvent.objects.get(pk=letter.event_id), lease)


@pytest.mark.django_db
@pytest.mark.parametrize(("step", "error_class"), [("system-exit", "SystemExit"), ("keyboard-interrupt", "KeyboardInterrupt")])
def test_it_reports_a_dry_run_whose_handler_exits_without_ending_the_request(admin_client, step, error_class):
    letter = dead_letters([step], count=1)[0]
    _, page = run_action(admin_client, "dry_run", [letter.pk])
    assert page.status_code == 200
    record = ReplayRecord.objects.get(dead_letter=letter, dry_run=True)
    assert record.outcome == "failed" and record.error.startswith(error_class)
    assert error_class.encode() in page.content
    event = WebhookEvent.objects.get(pk=letter.event_id)
    assert (event.status, event.attempts) == (EventStatus.DEAD, 1)  # a dry run changes nothing
