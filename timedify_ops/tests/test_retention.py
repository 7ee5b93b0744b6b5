"""Retention and cleanup jobs on seeded data, with exact counts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import ProtectedError
from django.utils import timezone
from django_q.models import Task

from deadletters.models import DeadLetter
from timedify_ops.jobs import execute
from timedify_ops.models import JobRun
from timedify_ops.tests.conftest import make_dead_letter, make_event
from webhooks.models import EventAttempt, WebhookEvent

pytestmark = pytest.mark.django_db


def test_it_deletes_expired_events_with_their_attempts_in_bounded_batches(settings):
    settings.RETENTION_BATCH_SIZE = 10
    old = [make_event(days_old=20, attempts=2) for _ in range(35)]
    recent = [make_event(days_old=1, attempts=1) for _ in range(5)]

    run = execute("retention_cleanup", trigger="command", days=14)

    assert run.status == "ok"
    deleted = run.details["deleted"]
    assert deleted["webhooks.WebhookEvent"] == 35
    assert deleted["webhooks.EventAttempt"] == 70
    assert run.details["batches"] == 4
    assert not WebhookEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    assert WebhookEvent.objects.filter(pk__in=[e.pk for e in recent]).count() == 5
    assert EventAttempt.objects.count() == 5
    oldest = min(e.received_at for e in recent)
    assert run.details["oldest_kept"] == oldest.isoformat()
    assert "deleted 35 events, 70 attempts, 0 dead letters in 4 batches" in run.summary


def test_it_keeps_what_dead_letters_need_and_frees_events_of_cleaned_dead_letters(settings):
    settings.DEADLETTER_RETENTION_DAYS = 30
    open_event = make_event(days_old=40, status="dead", attempts=5)
    replaying_event = make_event(days_old=40, status="dead")
    resolved_long_ago = make_event(days_old=40, status="processed")
    resolved_recently = make_event(days_old=40, status="processed")
    plain = make_event(days_old=40)
    make_dead_letter(open_event, "open", days_since_update=60)
    make_dead_letter(replaying_event, "replaying", days_since_update=60)
    old_dl = make_dead_letter(resolved_long_ago, "resolved", days_since_update=35)
    make_dead_letter(resolved_recently, "resolved", days_since_update=2)

    run = execute("retention_cleanup", trigger="command", days=14)

    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {open_event.pk, replaying_event.pk, resolved_recently.pk}
    assert plain.pk not in remaining and resolved_long_ago.pk not in remaining
    assert not DeadLetter.objects.filter(pk=old_dl.pk).exists()
    assert EventAttempt.objects.filter(event=open_event).count() == 5
    assert run.details["deleted"] == {
        "webhooks.WebhookEvent": 2,
        "webhooks.EventAttempt": 0,
        "deadletters.DeadLetter": 1,
    }
    assert run.details["kept_past_window"] == 3
    assert run.details["kept_for_open_dead_letters"] == 2


def test_it_cannot_delete_an_event_a_dead_letter_protects():
    event = make_event(days_old=40, status="dead")
    make_dead_letter(event, "open")
    with pytest.raises(ProtectedError):
        event.delete()
    result = WebhookEvent.objects.filter(pk=event.pk).delete_in_batches(10)
    assert result["webhooks.WebhookEvent"] == 0
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_it_only_counts_on_a_dry_run():
    for _ in range(3):
        make_event(days_old=20, attempts=1)
    run = execute("retention_cleanup", trigger="command", days=14, dry_run=True)
    assert run.details["deleted"]["webhooks.WebhookEvent"] == 3
    assert run.details["deleted"]["webhooks.EventAttempt"] == 3
    assert run.summary.startswith("would delete 3 events")
    assert WebhookEvent.objects.count() == 3


def test_it_cleans_up_only_resolved_and_ignored_dead_letters_past_their_window(settings):
    settings.DEADLETTER_RETENTION_DAYS = 30
    keep_open = make_dead_letter(make_event(status="dead"), "open", days_since_update=90)
    gone = [
        make_dead_letter(make_event(), "resolved", days_since_update=31),
        make_dead_letter(make_event(), "ignored", days_since_update=45),
    ]
    keep_recent = make_dead_letter(make_event(), "resolved", days_since_update=3)

    run = execute("deadletter_cleanup", trigger="command")

    assert run.details == {"days": 30, "dry_run": False, "deleted": 2, "open": 1}
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {keep_open.pk, keep_recent.pk}
    assert not DeadLetter.objects.filter(pk__in=[d.pk for d in gone]).exists()


def _task(success: bool, days_old: float) -> Task:
    import uuid

    when = timezone.now() - timedelta(days=days_old)
    return Task.objects.create(
        id=uuid.uuid4().hex, name=uuid.uuid4().hex, func="math.floor", started=when, stopped=when, success=success
    )


def test_it_prunes_django_q_failures_old_successes_and_old_job_runs(settings):
    settings.Q_RESULT_RETENTION_DAYS = 7
    settings.JOBRUN_RETENTION_DAYS = 30
    settings.RETENTION_BATCH_SIZE = 2
    for _ in range(3):
        _task(False, 8)
    for _ in range(5):
        _task(True, 10)
    fresh = [_task(True, 1), _task(False, 1)]
    old_run = JobRun.objects.create(task="sweeper", status="ok", started_at=timezone.now() - timedelta(days=31))

    run = execute("prune_django_q", trigger="command")

    assert run.details["failures"] == 3
    assert run.details["successes"] == 5
    assert run.details["job_runs"] == 1
    assert run.details["batches"] == 2 + 3 + 1
    assert set(Task.objects.values_list("id", flat=True)) == {t.id for t in fresh}
    assert not JobRun.objects.filter(pk=old_run.pk).exists()
