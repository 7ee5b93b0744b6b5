"""The processing core with real handlers: retries and their timing, permanent errors,
idempotency, claims racing on PostgreSQL, the sweeper command."""

from __future__ import annotations

import time
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_q.models import OrmQ

from conftest import run_concurrently
from deadletters.models import DeadLetter
from webhooks import processing
from webhooks.models import AttemptOutcome, EventAttempt, EventStatus, WebhookEvent
from webhooks.processing.attempt import ignore
from webhooks.tests import worker_handlers
from webhooks.tests.support import store_event

DELAYS = [0.05, 0.1, 0.2, 0.4]


@pytest.mark.django_db
def test_it_retries_with_the_configured_backoff_and_then_dead_letters(settings):
    settings.WEBHOOK_RETRY_DELAYS = DELAYS
    event = store_event("tests/always-fails", {"id": 1})
    assert processing.process_until_settled(event.pk) == EventStatus.DEAD
    attempts = list(event.attempt_log.order_by("number"))
    assert [a.outcome for a in attempts] == [AttemptOutcome.FAILED] * 5
    gaps = [(b.started_at - a.started_at).total_seconds() for a, b in zip(attempts, attempts[1:], strict=False)]
    for gap, delay in zip(gaps, DELAYS, strict=True):
        # Never before its back-off; after it by one attempt (claim, handler, record),
        # which 500 ms covers on a loaded machine.
        assert delay <= gap < delay + 0.5, (gaps, DELAYS)
    letter = DeadLetter.objects.get(event=event)
    assert letter.error_class == "RuntimeError"
    assert letter.error_message == "attempt 5 failed on purpose"
    assert [a["number"] for a in letter.attempts] == [1, 2, 3, 4, 5]


@pytest.mark.django_db
def test_it_skips_retries_on_a_permanent_error_and_keeps_the_evidence(settings):
    settings.WEBHOOK_RETRY_DELAYS = DELAYS
    event = store_event("tests/permanent", {"id": 2})
    assert processing.process_until_settled(event.pk) == EventStatus.DEAD
    event.refresh_from_db()
    assert event.attempts == 1
    letter = DeadLetter.objects.get(event=event)
    assert letter.error_class == "webhooks.errors.PermanentError"
    assert letter.error_message == "this payload can never be processed"
    assert "Traceback (most recent call last)" in letter.traceback
    assert "raise PermanentError" in letter.traceback
    assert letter.attempts[0]["outcome"] == "failed"
    assert letter.attempts[0]["error"].startswith("webhooks.errors.PermanentError: this payload")


@pytest.mark.django_db
def test_it_does_not_double_side_effects_when_processed_twice():
    event = store_event("tests/side-effect", {"id": 3})
    assert processing.process_event(event.pk) == EventStatus.PROCESSED
    assert processing.process_event(event.pk) == "skipped"
    assert processing.claim(event.pk, statuses=processing.REPLAYABLE) is None  # processed: nothing to replay
    assert worker_handlers.side_effect_count(event.pk) == 1
    stored = WebhookEvent.objects.select_related("shop").get(pk=event.pk)
    assert stored.attempts == 1
    assert stored.shop is not None and stored.shop.domain == stored.shop_domain  # linked by the attempt


@pytest.mark.django_db
def test_a_failed_event_is_linked_to_its_shop_too(settings):
    settings.WEBHOOK_RETRY_DELAYS = []
    event = store_event("tests/permanent", {"id": 4})
    assert processing.process_until_settled(event.pk) == EventStatus.DEAD
    stored = WebhookEvent.objects.select_related("shop").get(pk=event.pk)
    assert stored.shop is not None and stored.shop.domain == stored.shop_domain


@pytest.mark.django_db
def test_it_counts_a_dead_worker_as_an_attempt_and_retries_the_event(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    event = store_event("tests/slow", {"seconds": 0})
    # A worker claimed it and died: its lease lapsed. A worker never takes it over by
    # itself; the sweeper takes it back and records the dead worker's attempt.
    assert processing.claim(event.pk) is not None
    WebhookEvent.objects.filter(pk=event.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert processing.process_event(event.pk) == "skipped"
    assert processing.sweep() == 1
    died = event.attempt_log.get()
    assert (died.number, died.outcome, died.trigger, died.error_class) == (1, "failed", "sweeper", "WorkerDied")
    assert "the worker died while processing" in died.error_message
    assert processing.process_event(event.pk) == EventStatus.PROCESSED
    assert worker_handlers.side_effect_count(event.pk) == 1
    assert WebhookEvent.objects.get(pk=event.pk).attempts == 2


@pytest.mark.django_db
def test_it_dead_letters_an_event_whose_worker_dies_every_time(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0, 0.0]
    event = store_event("tests/slow", {"seconds": 0})
    for _ in range(3):
        assert processing.claim(event.pk) is not None
        WebhookEvent.objects.filter(pk=event.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert processing.sweep() == 1
    assert WebhookEvent.objects.get(pk=event.pk).status == EventStatus.DEAD
    letter = DeadLetter.objects.get(event=event)
    assert letter.error_class == "WorkerDied"
    assert [a["number"] for a in letter.attempts] == [1, 2, 3]
    assert processing.sweep() == 0  # dead: never swept again


@pytest.mark.django_db
def test_it_releases_a_failed_event_with_its_retry_written_for_when_it_is_due(settings):
    settings.WEBHOOK_RETRY_DELAYS = [30.0]
    event = store_event("tests/always-fails", {"id": 9})
    OrmQ.objects.all().delete()  # the intake's own task
    started = time.monotonic()
    assert processing.process_event(event.pk) == processing.RETRYING
    assert time.monotonic() - started < 5  # the worker did not sleep through the back-off
    event.refresh_from_db()
    assert (event.status, event.failures, event.lease_expires_at) == (EventStatus.RECEIVED, 1, None)
    due = event.next_attempt_at
    assert 29 < (due - timezone.now()).total_seconds() <= 30
    # django-q2's ORM broker hands out rows with lock < now: this one appears when due.
    (task,) = OrmQ.objects.all()
    assert task.lock == due and task.task["args"] == (event.pk,)
    assert processing.process_event(event.pk) == "skipped"  # not due yet


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_lets_one_of_two_racing_workers_claim_an_event():
    event = store_event("tests/side-effect", {"id": 4})
    results = run_concurrently(lambda: processing.claim(event.pk))
    assert len(results) == 2
    assert sum(r is not None for r in results) == 1
    assert WebhookEvent.objects.get(pk=event.pk).status == EventStatus.PROCESSING


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_runs_the_handler_once_when_two_workers_process_the_same_event():
    event = store_event("tests/slow", {"seconds": 0.3})
    outcomes = run_concurrently(lambda: processing.process_event(event.pk))
    assert sorted(outcomes) == [EventStatus.PROCESSED, "skipped"]
    assert worker_handlers.side_effect_count(event.pk) == 1


@pytest.mark.django_db
def test_it_lists_stuck_events_in_a_dry_run_and_requeues_them_for_real(settings):
    settings.WEBHOOK_RETRY_DELAYS = [0.0]
    stuck = store_event("tests/side-effect", {"id": 5})
    WebhookEvent.objects.filter(pk=stuck.pk).update(
        status=EventStatus.PROCESSING, lease_expires_at=timezone.now() - timedelta(seconds=5)
    )
    fresh = store_event("tests/side-effect", {"id": 6}, last_enqueued_at=timezone.now())
    out = StringIO()
    call_command("sweep_events", "--dry-run", stdout=out)
    assert f"{stuck.pk} tests/side-effect" in out.getvalue()
    assert f"\n{fresh.pk} " not in out.getvalue()
    assert "dry run: 1 events would be re-enqueued" in out.getvalue()
    assert not OrmQ.objects.exists()
    out = StringIO()
    call_command("sweep_events", stdout=out)
    assert "swept 1 events (taken back from a dead worker or re-enqueued), resumed 0 stalled replay batches" in out.getvalue()
    assert [q.task["args"] for q in OrmQ.objects.all()] == [(stuck.pk,)]
    assert processing.process_event(stuck.pk) == EventStatus.PROCESSED


@pytest.mark.django_db
def test_it_writes_no_attempt_for_an_event_deleted_while_its_handler_ran(settings):
    # EventAttempt.event has no database constraint: the claim check is what keeps an
    # attempt from outliving its event.
    settings.WEBHOOK_RETRY_DELAYS = DELAYS
    event = store_event("tests/deleted-meanwhile", {"id": 7})
    assert processing.process_event(event.pk) == "skipped"
    assert not WebhookEvent.objects.filter(pk=event.pk).exists()
    assert not EventAttempt.objects.filter(event_id=event.pk).exists()


@pytest.mark.django_db
def test_it_records_no_ignored_attempt_once_the_claim_is_lost():
    event = store_event("tests/no-such-handler", {"id": 8})
    lease = processing.claim(event.pk)
    assert lease is not None
    WebhookEvent.objects.filter(pk=event.pk).delete()
    assert ignore(event, "worker", lease) is False
    assert not EventAttempt.objects.filter(event_id=event.pk).exists()
