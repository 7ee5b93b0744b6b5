"""Retention and cleanup jobs on seeded data, with exact counts."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django_q.models import Task

from deadletters.models import DeadLetter
from timedify_ops.jobs import execute
from timedify_ops.models import JobRun
from timedify_ops.tests.conftest import make_dead_letter, make_event
from webhooks.models import CustomerDataExport, EventAttempt, WebhookEvent

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
    assert "deleted 35 events, 70 attempts in 4 batches" in run.summary


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

    # Retention deletes no dead letter: that is the dead-letter clean-up's job, run once.
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {open_event.pk, replaying_event.pk, resolved_long_ago.pk, resolved_recently.pk}
    assert DeadLetter.objects.filter(pk=old_dl.pk).exists()
    assert run.details["deleted"] == {"webhooks.WebhookEvent": 1, "webhooks.EventAttempt": 0, "webhooks.EventSubject": 0,
                                      "webhooks.PayloadRevision": 0}
    assert run.details["kept_past_window"] == 4
    assert run.details["kept_for_open_dead_letters"] == 2

    cleanup = execute("deadletter_cleanup", trigger="command")
    assert cleanup.details["deleted"] == 1 and not DeadLetter.objects.filter(pk=old_dl.pk).exists()
    run = execute("retention_cleanup", trigger="command", days=14)
    remaining = set(WebhookEvent.objects.values_list("pk", flat=True))
    assert remaining == {open_event.pk, replaying_event.pk, resolved_recently.pk}
    assert EventAttempt.objects.filter(event=open_event).count() == 5
    assert run.details["deleted"] == {"webhooks.WebhookEvent": 1, "webhooks.EventAttempt": 0, "webhooks.EventSubject": 0,
                                      "webhooks.PayloadRevision": 0}
    assert plain.pk not in remaining


def test_it_cannot_delete_an_event_a_dead_letter_protects():
    event = make_event(days_old=40, status="dead")
    make_dead_letter(event, "open")
    with pytest.raises(ProtectedError):
        event.delete()
    result = WebhookEvent.objects.filter(pk=event.pk).delete_in_batches(10)
    assert result.deleted["webhooks.WebhookEvent"] == 0
    assert WebhookEvent.objects.filter(pk=event.pk).exists()


def test_it_rechecks_a_stale_selection_in_the_delete_itself():
    # A selection that does not leave out protected or unfinished events stands for one
    # made before a dead letter was opened or a worker claimed the event: the DELETE of
    # each batch checks again, whatever the queryset said.
    pinned = make_event(days_old=40, status="dead", attempts=2)
    make_dead_letter(pinned, "resolved")
    received = make_event(days_old=40, status="received")
    processing = make_event(days_old=40, status="processing", attempts=1)
    plain = make_event(days_old=40, attempts=1)

    result = WebhookEvent.objects.filter(pk__in=[pinned.pk, received.pk, processing.pk, plain.pk]).delete_in_batches(10)

    assert result.deleted == {"webhooks.WebhookEvent": 1, "webhooks.EventAttempt": 1, "webhooks.EventSubject": 0,
                              "webhooks.PayloadRevision": 0}
    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {pinned.pk, received.pk, processing.pk}
    assert EventAttempt.objects.filter(event_id__in=[pinned.pk, processing.pk]).count() == 3


def test_it_keeps_events_not_yet_processed_however_old_and_says_so():
    received = make_event(days_old=60, status="received")
    processing = make_event(days_old=30, status="processing", attempts=1)
    finished = [make_event(days_old=30, status=s, attempts=1) for s in ("processed", "ignored", "failed", "dead")]

    run = execute("retention_cleanup", trigger="command", days=14)

    assert set(WebhookEvent.objects.values_list("pk", flat=True)) == {received.pk, processing.pk}
    assert not WebhookEvent.objects.filter(pk__in=[e.pk for e in finished]).exists()
    assert EventAttempt.objects.filter(event=processing).count() == 1
    assert run.details["deleted"]["webhooks.WebhookEvent"] == 4
    assert run.details["kept_unfinished"] == 2
    assert run.details["kept_past_window"] == 2
    assert "kept 2 older than 14 d (0 for open dead letters, 2 not yet processed)" in run.summary


def test_it_deletes_attempts_and_clears_exports_of_deleted_events_and_leaves_no_orphans(settings):
    settings.RETENTION_BATCH_SIZE = 3
    old = [make_event(days_old=20, attempts=2, topic="customers/data_request") for _ in range(7)]
    pinned = make_event(days_old=20, status="dead", attempts=3)
    make_dead_letter(pinned, "open")
    recent = make_event(days_old=1, attempts=1, topic="customers/data_request")
    exports = {
        e.pk: CustomerDataExport.objects.create(shop_domain=e.shop_domain, customer_id=str(e.pk), event=e)
        for e in [*old[:2], pinned, recent]
    }

    run = execute("retention_cleanup", trigger="command", days=14)

    assert run.details["deleted"]["webhooks.WebhookEvent"] == 7
    assert run.details["deleted"]["webhooks.EventAttempt"] == 14
    assert run.details["batches"] == 3
    # The exports stay (staff may still need to hand them over); they no longer point anywhere.
    assert CustomerDataExport.objects.filter(event__isnull=True).count() == 2
    for kept in (pinned, recent):
        assert CustomerDataExport.objects.get(pk=exports[kept.pk].pk).event_id == kept.pk
    assert EventAttempt.objects.filter(event=pinned).count() == 3
    assert EventAttempt.objects.filter(event=recent).count() == 1
    events = WebhookEvent.objects.values("pk")
    assert not EventAttempt.objects.exclude(event_id__in=events).exists()
    assert not CustomerDataExport.objects.filter(event_id__isnull=False).exclude(event_id__in=events).exists()


def test_it_pauses_between_batches_as_configured(settings):
    settings.RETENTION_BATCH_SIZE = 10
    settings.RETENTION_PAUSE_SECONDS = 0.01
    for _ in range(35):
        make_event(days_old=20)

    run = execute("retention_cleanup", trigger="command", days=14)

    assert (run.details["batches"], run.details["pauses"], run.details["pause_seconds"]) == (4, 3, 0.01)
    assert "deleted 35 events, 0 attempts in 4 batches of up to 10, pausing 0.01 s between batches" in run.summary


def test_it_takes_batch_size_and_pause_from_the_command_line(settings):
    settings.RETENTION_PAUSE_SECONDS = 0.0
    for _ in range(5):
        make_event(days_old=20)
    call_command("retention_cleanup", "14", "--batch-size", "2", "--pause", "0.005", stdout=StringIO())
    run = JobRun.objects.get(task="retention_cleanup")
    assert (run.details["batch_size"], run.details["batches"], run.details["pauses"]) == (2, 3, 2)
    assert run.details["pause_seconds"] == 0.005
    assert not WebhookEvent.objects.exists()


def test_it_does_not_pause_when_the_pause_is_zero(settings):
    settings.RETENTION_BATCH_SIZE = 2
    settings.RETENTION_PAUSE_SECONDS = 0.0
    for _ in range(5):
        make_event(days_old=20)
    run = execute("retention_cleanup", trigger="command", days=14)
    assert (run.details["batches"], run.details["pauses"]) == (3, 0)
    assert "pausing" not in run.summary


def test_it_deletes_more_events_than_one_statement_may_name_on_sqlite(settings, on_postgres):
    # SQLite takes the ids as one placeholder each, at most 999 per statement; PostgreSQL
    # takes them as one array.
    settings.RETENTION_BATCH_SIZE = 5000
    old = timezone.now() - timedelta(days=20)
    events = WebhookEvent.objects.bulk_create(
        WebhookEvent(topic="orders/create", webhook_id=f"bulk-{n}", received_at=old, status="processed")
        for n in range(1200)
    )
    EventAttempt.objects.bulk_create(EventAttempt(event=e, number=1, outcome="ok") for e in events)

    run = execute("retention_cleanup", trigger="command", days=14)

    assert run.details["deleted"]["webhooks.WebhookEvent"] == 1200
    assert run.details["deleted"]["webhooks.EventAttempt"] == 1200
    assert run.details["batches"] == (1 if on_postgres else 2)
    assert not WebhookEvent.objects.exists() and not EventAttempt.objects.exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_it_never_deletes_an_event_whose_dead_letter_commits_while_its_batch_runs():
    # Connection B opens a dead letter for a candidate the way a dying worker does: it
    # updates the event row (a row lock) and inserts the dead letter, and holds its
    # transaction open. Connection A runs retention: its selection cannot see the dead
    # letter yet, so its DELETE reaches the event and waits for B's row lock. B commits.
    # The event must survive: the DeadLetter foreign key refuses A's batch, and
    # the batch run again leaves the event out.
    racing = make_event(days_old=40, status="failed", attempts=1)
    others = [make_event(days_old=40, attempts=1) for _ in range(3)]
    letter_written, release = threading.Event(), threading.Event()
    retention: dict[str, Any] = {}

    def open_dead_letter() -> None:
        try:
            with transaction.atomic():
                WebhookEvent.objects.filter(pk=racing.pk).update(status="dead")
                make_dead_letter(racing, "open")
                letter_written.set()
                release.wait(30)
        finally:
            connection.close()

    def run_retention() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                retention["pid"] = cursor.fetchone()[0]
            retention["result"] = WebhookEvent.objects.expired(14).delete_in_batches(100)
        finally:
            connection.close()

    writer = threading.Thread(target=open_dead_letter)
    writer.start()
    assert letter_written.wait(10)
    job = threading.Thread(target=run_retention)
    job.start()
    try:
        assert _wait_until_blocked(lambda: retention.get("pid")), "retention never waited for the dead letter's lock"
    finally:
        release.set()
        writer.join(30)
        job.join(30)

    result = retention["result"]
    assert WebhookEvent.objects.get(pk=racing.pk).status == "dead"
    assert DeadLetter.objects.get(event=racing).status == "open"
    assert EventAttempt.objects.filter(event=racing).count() == 1
    assert not WebhookEvent.objects.filter(pk__in=[e.pk for e in others]).exists()
    assert (result.batches, result.retried) == (1, 1)
    assert result.deleted["webhooks.WebhookEvent"] == 3


def _wait_until_blocked(pid: Any, timeout: float = 10.0) -> bool:
    """True once the backend pid() returns waits on a lock (pg_stat_activity)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pid() is not None:
            with connection.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid()])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return True
        time.sleep(0.02)
    return False


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
