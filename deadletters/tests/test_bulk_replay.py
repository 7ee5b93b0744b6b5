"""Bulk replay above the inline limit: one background batch over the frozen ids, with progress."""

from __future__ import annotations

import contextlib

import pytest
from django.contrib.admin.models import LogEntry
from django.db import DatabaseError
from django.urls import reverse
from django_q.models import OrmQ

from conftest import database_refuses
from deadletters import batch_run
from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter, ReplayRecord
from deadletters.tests.factories import bulk_dead_letters, make_dead_letters, run_queued_tasks

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:deadletters_deadletter_changelist")


def test_it_replays_500_in_the_background_and_reports_progress(
    admin_client, admin_user, flaky_handler, settings, django_capture_on_commit_callbacks
):
    dead_letters = bulk_dead_letters(500)
    ids = [d.pk for d in dead_letters]
    flaky_handler.fail = False
    flaky_handler.fail_orders = set(range(0, 500, 50))  # ten of them fail again, spread out
    settings.DEADLETTER_REPLAY_CHUNK = 100
    settings.DEADLETTER_BATCH_TASK_SECONDS = 0  # each task run does one chunk, then hands over
    form = {"action": "replay", "_selected_action": ids[:1], "select_across": "1"}
    first = admin_client.post(CHANGELIST, form)
    assert first.context["count"] == 500
    with django_capture_on_commit_callbacks(execute=True):
        confirmed = admin_client.post(CHANGELIST, {**form, "post": "yes", "ids_token": first.context["ids_token"],
                                                   "rate": "", "fastest": "1"})
    batch = ReplayBatch.objects.get()
    assert confirmed["Location"] == reverse("admin:deadletters_replaybatch_change", args=[batch.pk])
    assert sorted(batch.dead_letter_ids) == sorted(ids) and batch.status == "queued"
    assert OrmQ.objects.count() == 1
    assert DeadLetter.objects.filter(pk__in=ids, status="open").count() == 500  # nothing ran in the request

    # One task run works for its time budget, then queues the rest. The pace of a new batch
    # is not known yet, so its first chunk is a small one that measures it.
    from deadletters.tasks import run_replay_batch

    run_replay_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.done == batch_run.FIRST_CHUNK and batch.status == "queued"
    assert batch.items.count() == batch_run.FIRST_CHUNK
    page = admin_client.get(confirmed["Location"]).content.decode()
    assert f"{batch.done} / 500" in page and 'http-equiv="refresh"' in page

    run_queued_tasks()
    batch.refresh_from_db()
    assert batch.status == "finished" and batch.finished_at is not None and batch.outcome == ("partial", "some failed")
    assert (batch.done, batch.ok, batch.failed, batch.skipped) == (500, 490, 10, 0)
    assert set(batch.items.values_list("dead_letter_id", flat=True)) == set(ids)
    assert DeadLetter.objects.filter(pk__in=ids, status="resolved").count() == 490
    assert DeadLetter.objects.filter(pk__in=ids, status="open", replay_count=1).count() == 10
    assert LogEntry.objects.filter(user=admin_user, change_message__startswith=f"Replayed in batch {batch.pk}: ").count() == 500
    assert ReplayRecord.objects.filter(dead_letter_id__in=ids, source="bulk", actor=admin_user).count() == 500
    page = admin_client.get(confirmed["Location"]).content.decode()
    assert "500 / 500" in page and 'id="batch-report"' in page and 'http-equiv="refresh"' not in page
    # Failures first in the report, each with its topic, shop, error class and a link.
    report = page[page.index('id="batch-report"'):]
    first_row = report[report.index("<tr class="):report.index("</tr>", report.index("<tr class="))]
    assert 'class="outcome-failed"' in first_row and "tests/flaky" in first_row and "RuntimeError" in first_row
    assert "bulk-shop.myshopify.com" in first_row and "/admin/deadletters/deadletter/" in first_row


def test_it_replays_up_to_the_inline_limit_within_the_request(admin_client, flaky_handler, settings):
    settings.DEADLETTER_INLINE_REPLAY_LIMIT = 3
    dead_letters = make_dead_letters(3)
    flaky_handler.fail = False
    ids = [d.pk for d in dead_letters]
    first = admin_client.post(CHANGELIST, {"action": "replay", "_selected_action": ids})
    admin_client.post(CHANGELIST, {"action": "replay", "_selected_action": ids, "post": "yes",
                                   "ids_token": first.context["ids_token"]})
    assert not ReplayBatch.objects.exists()
    assert DeadLetter.objects.filter(pk__in=ids, status="resolved").count() == 3


def test_it_does_not_run_a_batch_twice(flaky_handler):
    dead_letters = bulk_dead_letters(5)
    flaky_handler.fail = False
    batch = ReplayBatch.start([d.pk for d in dead_letters], None, "five")
    assert batch_run.run(batch, budget_seconds=60) is True
    calls = flaky_handler.calls
    # A worker that died before writing any progress: the task runs again from the start.
    ReplayBatch.objects.filter(pk=batch.pk).update(status="queued", done=0, ok=0)
    batch.items.all().delete()
    batch_run.run(batch, budget_seconds=60)
    assert flaky_handler.calls == calls  # every item was resolved already: none runs twice
    batch.refresh_from_db()
    assert (batch.done, batch.ok, batch.skipped) == (5, 0, 5)


def test_it_resumes_a_batch_whose_worker_died(flaky_handler, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from deadletters.tests.factories import run_queued_tasks

    dead_letters = bulk_dead_letters(4)
    flaky_handler.fail = False
    with django_capture_on_commit_callbacks(execute=True):
        batch = ReplayBatch.start([d.pk for d in dead_letters], None, "four")
    OrmQ.objects.all().delete()  # the task was lost with its worker (Redis broker)
    # The worker had claimed it and then died: running, lease lapsed, no progress.
    ReplayBatch.objects.filter(pk=batch.pk).update(status="running", lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert ReplayBatch.resume_stalled() == 1
    run_queued_tasks()
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.ok) == ("finished", 4, 4)


@pytest.mark.django_db
def test_the_every_minute_sweeper_job_resumes_a_batch_whose_worker_died():
    """A running batch whose lease lapsed (its worker died) is re-enqueued by the sweeper."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import OrmQ

    from deadletters.batches import BatchStatus, ReplayBatch
    from timedify_ops.jobs import execute

    batch = ReplayBatch.objects.create(
        dead_letter_ids=[1, 2, 3], total=3, description="three", status=BatchStatus.RUNNING,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    OrmQ.objects.all().delete()
    run = execute("sweeper", trigger="command")
    assert run.details["replay_batches_resumed"] == 1
    queued = [q.task for q in OrmQ.objects.all()]
    assert [t["args"] for t in queued if t["func"] == "deadletters.tasks.run_replay_batch"] == [(batch.pk,)]


def database_refuses_claims(ids: list[int]) -> contextlib.AbstractContextManager[None]:
    """The database itself refuses to mark these dead letters replaying (what a claim
    does), as a database that fails mid-batch would."""
    where = f"OLD.id IN ({', '.join(map(str, ids))}) AND NEW.status = 'replaying'"
    return database_refuses(DeadLetter._meta.db_table, "UPDATE", "database went away", when=where)


def test_it_keeps_its_progress_when_a_chunk_cannot_run_and_resumes_from_there(flaky_handler, settings):
    from datetime import timedelta

    from django.utils import timezone

    dead_letters = bulk_dead_letters(6)
    ids = [d.pk for d in dead_letters]
    settings.DEADLETTER_REPLAY_CHUNK = 2
    flaky_handler.fail = False
    batch = ReplayBatch.start(ids, None, "six")

    with database_refuses_claims(ids[2:4]), pytest.raises(DatabaseError):
        batch_run.run(batch, budget_seconds=60)
    batch.refresh_from_db()
    # The first chunk is done and saved; nothing of the second was claimed.
    assert (batch.status, batch.done, batch.ok) == ("running", 2, 2)
    assert DeadLetter.objects.filter(pk__in=ids[2:], status="open").count() == 4
    # The task failed; once its lease lapses the batch is resumed where it stopped.
    ReplayBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert batch_run.run(batch, budget_seconds=60) is True
    batch.refresh_from_db()
    assert (batch.status, batch.done, batch.ok, batch.skipped) == ("finished", 6, 6, 0)
    assert list(batch.items.order_by("position").values_list("dead_letter_id", flat=True)) == ids
    assert DeadLetter.objects.filter(pk__in=ids, status="resolved", replay_count=1).count() == 6


def test_it_starts_one_batch_for_one_confirmation_however_often_it_is_posted(admin_client, flaky_handler, settings):
    """A double click, or the browser resubmitting the confirmed form: one batch, and a
    message that nothing was done again."""
    settings.DEADLETTER_INLINE_REPLAY_LIMIT = 1
    ids = [d.pk for d in make_dead_letters(2)]
    first = admin_client.post(CHANGELIST, {"action": "replay", "_selected_action": ids})
    confirmed = {"action": "replay", "_selected_action": ids, "post": "yes", "ids_token": first.context["ids_token"]}
    admin_client.post(CHANGELIST, confirmed)
    again = admin_client.post(CHANGELIST, confirmed, follow=True)
    assert ReplayBatch.objects.count() == 1
    assert "already used" in again.content.decode()
