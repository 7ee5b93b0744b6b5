"""Monotonic delivery counters for Prometheus, derived from database rows.

A counter is the number of append-only facts ever recorded: deliveries received (events
stored), refused (RejectedDelivery's hourly counts), processed (handler attempts that
succeeded or found no handler), failed (handler attempts that failed), dead-lettered (dead
letters opened), and the ingest latency histogram of the received ones. Synthetic test
deliveries are left out, as everywhere.

The facts' rows are deleted later (retention, dead-letter clean-up), which would make a
plain COUNT go down. So once an hour is settled (OPS_ROLLUP_SETTLE_MINUTES after its end,
when no row of it is still being written) its facts are added to the one DeliveryTotals
row, and a counter is that row plus the facts newer than its `through`. Every process reads
the same database, so every gunicorn worker answers a scrape with the same numbers, and a
restart changes nothing. Nothing is counted twice: `through` moves forward only by a
conditional UPDATE on its old value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.db.models import Count, Q, Sum
from django.utils import timezone

from deadletters.models import DeadLetter
from timedify_ops.models import DeliveryTotals
from timedify_ops.rollup import settled_until
from webhooks.models import AttemptOutcome, EventAttempt, RejectedDelivery, WebhookEvent

# Upper bounds (seconds) of the ingest latency histogram; the SLO lines (0.1, 0.5) are bounds.
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COUNTERS = ("received", "refused", "processed", "failed", "dead_lettered")
BEGINNING = datetime(2000, 1, 1, tzinfo=UTC)


def facts(since: datetime, until: datetime | None = None) -> dict[str, float]:
    """The facts recorded in [since, until) (until None: up to now and beyond)."""

    def window(field: str) -> Q:
        q = Q(**{f"{field}__gte": since})
        return q & Q(**{f"{field}__lt": until}) if until is not None else q

    latency = {
        f"le_{b:g}": Count("id", filter=Q(ack_latency_ms__lte=b * 1000)) for b in LATENCY_BUCKETS_S
    }
    events = WebhookEvent.objects.filter(window("received_at"), synthetic=False).aggregate(
        received=Count("id"),
        latency_count=Count("ack_latency_ms"),
        latency_sum_ms=Sum("ack_latency_ms"),
        **latency,
    )
    attempts = EventAttempt.objects.filter(window("started_at"), event__synthetic=False).aggregate(
        processed=Count("id", filter=Q(outcome__in=[AttemptOutcome.OK, AttemptOutcome.IGNORED])),
        failed=Count("id", filter=Q(outcome=AttemptOutcome.FAILED)),
    )
    refused = RejectedDelivery.objects.filter(window("hour")).aggregate(n=Sum("count"))["n"]
    dead = DeadLetter.objects.filter(window("created_at")).count()
    out: dict[str, float] = {k: float(v or 0) for k, v in {**events, **attempts}.items()}
    out["latency_sum_s"] = out.pop("latency_sum_ms") / 1000
    out.update(refused=float(refused or 0), dead_lettered=float(dead))
    return out


def _add(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a.get(k, 0.0) + b.get(k, 0.0) for k in a.keys() | b.keys()}


def settle(now: datetime | None = None) -> DeliveryTotals:
    """Add the facts of the hours settled since the last call; returns the row."""
    end = settled_until(now or timezone.now())
    row, _ = DeliveryTotals.objects.get_or_create(pk=1, defaults={"through": BEGINNING, "counts": {}})
    if row.through >= end:
        return row
    counts = _add(row.counts, facts(row.through, end))
    # Two scrapes at once: the conditional UPDATE lets one of them move `through`.
    if DeliveryTotals.objects.filter(pk=1, through=row.through).update(through=end, counts=counts):
        row.through, row.counts = end, counts
        return row
    return DeliveryTotals.objects.get(pk=1)


def totals(now: datetime | None = None) -> dict[str, Any]:
    """Every counter now: the settled totals plus the live facts after them."""
    row = settle(now)
    return _add(row.counts, facts(row.through))
