"""Retention jobs: old events, old dead letters, django-q2's results and our job runs.

A dead letter's foreign key to its event is PROTECT, so an event with any dead letter
cannot be deleted. Retention deletes expired events that no dead letter points at; the
dead-letter clean-up (its own job, once a day after retention) removes resolved and ignored
dead letters past DEADLETTER_RETENTION_DAYS, which frees their events for the next
retention run. An event whose dead letter is open or replaying, or resolved but still
inside its own window, is kept and counted. An event not yet
processed (received, or processing) is kept and counted too, however old: deleting it would
lose a delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone
from django_q.models import Task

from deadletters.models import DeadLetter
from timedify_ops.jobtypes import Outcome
from timedify_ops.models import JobRun, JobStatus
from webhooks.models import EventAttempt, WebhookEvent


def _label(model: type[models.Model]) -> str:
    return model._meta.label


def retention_cleanup(
    days: int | None = None,
    *,
    dry_run: bool = False,
    batch_size: int | None = None,
    pause: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Outcome:
    """Delete events older than `days` (WEBHOOK_RETENTION_DAYS) in batches of `batch_size`
    (RETENTION_BATCH_SIZE), `pause` seconds (RETENTION_PAUSE_SECONDS) apart; see the module
    docstring for what is kept. `progress` is called with the number deleted per batch."""
    days = days or settings.WEBHOOK_RETENTION_DAYS
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    pause = settings.RETENTION_PAUSE_SECONDS if pause is None else pause
    t0 = time.perf_counter()
    cutoff = timezone.now() - timedelta(days=days)

    expired = WebhookEvent.objects.expired(days)
    batches = pauses = retried = 0
    if dry_run:
        deleted: dict[str, int] = {
            _label(WebhookEvent): expired.count(),
            _label(EventAttempt): EventAttempt.objects.filter(event__in=expired.values("pk")).count(),
        }
    else:
        done = expired.delete_in_batches(batch_size, pause=pause, progress=progress)
        deleted, batches, pauses, retried = dict(done.deleted), done.batches, done.pauses, done.retried
        batch_size = done.batch_size

    old = WebhookEvent.objects.filter(received_at__lt=cutoff)
    kept_open = old.filter(dead_letters__in=DeadLetter.objects.unresolved()).distinct().count()
    kept_unfinished = old.pending().count()
    kept_total = old.count() if not dry_run else old.count() - deleted[_label(WebhookEvent)]
    oldest = WebhookEvent.objects.order_by("received_at").values_list("received_at", flat=True).first()
    seconds = round(time.perf_counter() - t0, 3)

    details = {
        "days": days,
        "cutoff": cutoff.isoformat(),
        "dry_run": dry_run,
        "batch_size": batch_size,
        "pause_seconds": pause,
        "batches": batches,
        "pauses": pauses,
        "batches_retried": retried,
        "deleted": deleted,
        "kept_past_window": kept_total,
        "kept_for_open_dead_letters": kept_open,
        "kept_unfinished": kept_unfinished,
        "oldest_kept": oldest.isoformat() if oldest else None,
        "seconds": seconds,
    }
    verb = "would delete" if dry_run else "deleted"
    events, attempts = deleted[_label(WebhookEvent)], deleted.get(_label(EventAttempt), 0)
    parts = [f"{verb} {events} events, {attempts} attempts"]
    if not dry_run:
        parts[0] += f" in {batches} batches of up to {batch_size}"
        if pauses:
            parts[0] += f", pausing {pause:g} s between batches"
        if retried:
            parts[0] += f" ({retried} refused by the database and run again: a dead letter raced in)"
    parts.append(
        f"kept {kept_total} older than {days} d ({kept_open} for open dead letters, {kept_unfinished} not yet processed)"
    )
    parts.append(f"oldest kept {oldest:%Y-%m-%d %H:%M} UTC" if oldest else "no events left")
    summary = "; ".join(parts)
    return Outcome(JobStatus.OK, f"{summary} ({seconds:.2f} s)", details)


def deadletter_cleanup(days: int | None = None, *, dry_run: bool = False) -> Outcome:
    """Resolved and ignored dead letters past `days` (DEADLETTER_RETENTION_DAYS; 0: all of
    them, whatever their age); open ones stay."""
    days = settings.DEADLETTER_RETENTION_DAYS if days is None else days
    n = DeadLetter.objects.cleanup(days, dry_run=dry_run)
    open_left = DeadLetter.objects.unresolved().count()
    verb = "would delete" if dry_run else "deleted"
    return Outcome(
        JobStatus.OK,
        f"{verb} {n} resolved/ignored dead letters older than {days} d; {open_left} open",
        {"days": days, "dry_run": dry_run, "deleted": n, "open": open_left},
    )


def delete_in_batches(qs: models.QuerySet[Any], batch_size: int) -> tuple[int, int]:
    """Delete a queryset of a model without dependents, `batch_size` primary keys at a time,
    each batch its own short transaction. Returns (rows, batches)."""
    total = batches = 0
    while True:
        with transaction.atomic():
            ids = list(qs.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                return total, batches
            # No signals or relations on these models: Django runs one DELETE ... IN (ids).
            _, per_model = qs.model._base_manager.filter(pk__in=ids).delete()
        total += per_model.get(qs.model._meta.label, 0)
        batches += 1


def prune_django_q(days: int | None = None, *, batch_size: int | None = None) -> Outcome:
    """django-q2 never prunes Failure rows, and its save_limit pruning of Success rows locks
    the whole table; this removes both past Q_RESULT_RETENTION_DAYS, plus our own job runs
    past JOBRUN_RETENTION_DAYS."""
    days = days or settings.Q_RESULT_RETENTION_DAYS
    batch_size = batch_size or settings.RETENTION_BATCH_SIZE
    cutoff = timezone.now() - timedelta(days=days)
    failures, b1 = delete_in_batches(Task.objects.filter(success=False, stopped__lt=cutoff), batch_size)
    successes, b2 = delete_in_batches(Task.objects.filter(success=True, stopped__lt=cutoff), batch_size)
    run_cutoff = timezone.now() - timedelta(days=settings.JOBRUN_RETENTION_DAYS)
    runs, b3 = delete_in_batches(JobRun.objects.filter(started_at__lt=run_cutoff), batch_size)
    return Outcome(
        JobStatus.OK,
        f"deleted {failures} failed and {successes} successful django-q2 tasks older than {days} d, "
        f"{runs} job runs older than {settings.JOBRUN_RETENTION_DAYS} d",
        {"days": days, "failures": failures, "successes": successes, "job_runs": runs, "batches": b1 + b2 + b3},
    )
