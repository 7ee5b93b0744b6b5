"""One definition of every ops figure. docs/operations.md ("What each figure means") names
each function here; the dashboard, /api/metrics, /metrics, health, alerting and the
ops_dashboard command all read these and compute none of them themselves.

This module sits at the bottom of timedify_ops: it imports the models of the apps below
and django-q2, never another module of this package but `models`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, Min, Q, QuerySet
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.status import Stat
from redis.exceptions import RedisError

from deadletters.models import DeadLetter
from webhooks.models import EventStatus, WebhookEvent
from webhooks.processing.queue import queue_is_transactional

# An error is an event that ended failed or dead (processing gave up on it, for now or for good).
ERROR_STATUSES = (EventStatus.FAILED.value, EventStatus.DEAD.value)
HOUR = 3600
# Latency bins: bin b holds [BIN_BASE_MS * RATIO**b, BIN_BASE_MS * RATIO**(b+1)).
BIN_BASE_MS = 0.01
BIN_RATIO = 1.02

Histogram = dict[int, int]


# --- Errors -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ErrorCounts:
    events: int
    errors: int

    @property
    def rate(self) -> float:
        """Errors / events, 0.0 without events (a fraction, never above 1)."""
        return self.errors / self.events if self.events else 0.0


def real_events(since: datetime, until: datetime | None = None) -> QuerySet[WebhookEvent]:
    """Events received in [since, until), synthetic test deliveries left out."""
    qs = WebhookEvent.objects.filter(received_at__gte=since, synthetic=False)
    return qs.filter(received_at__lt=until) if until is not None else qs


def errors(window: timedelta, now: datetime | None = None) -> ErrorCounts:
    """Events received in the last `window` (synthetic left out) and how many of them are
    failed or dead now. One grouped query over the received_at index."""
    now = now or timezone.now()
    agg = real_events(now - window, now + timedelta(microseconds=1)).aggregate(n=Count("id"), e=Count("id", filter=Q(status__in=ERROR_STATUSES)))
    return ErrorCounts(agg["n"], agg["e"])


# --- Latency ----------------------------------------------------------------------------


def percentile(histogram: Histogram, p: float) -> float | None:
    """The p-th percentile by nearest rank: the smallest latency L such that at least p of
    the deliveries took L or less (the value at rank ceil(p * n), 1-based). It is read from
    the 2 %-wide bin holding that rank and given as the bin's upper edge, so it is never
    below the exact value and at most 2 % above. On [1, 2, 3, 4, 100] ms, p99 is 100 ms
    (about 101.6), not 4: one delivery in five took 100 ms."""
    n = sum(histogram.values())
    if not n:
        return None
    rank = max(1, math.ceil(p * n - 1e-9))
    seen = 0
    for b in sorted(histogram):
        seen += histogram[b]
        if seen >= rank:
            return BIN_BASE_MS * BIN_RATIO ** (b + 1)
    return None


def latency_bin(ms: float) -> int:
    """The bin of one latency, as the SQL in `histograms` computes it."""
    return math.floor(math.log(max(ms, BIN_BASE_MS) / BIN_BASE_MS) / math.log(BIN_RATIO))


def floor_to(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def histograms(since: datetime, until: datetime, size: int) -> dict[int, tuple[int, int, Histogram]]:
    """Count, errors and latency histogram per bucket of `size` seconds (keyed by the
    bucket's start, epoch seconds) for real events received in [since, until). One grouped
    query over the received_at index; the output is bounded by buckets x bins."""
    if connection.vendor == "postgresql":
        epoch = "extract(epoch FROM received_at)"
    else:
        # Stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text (UTC); strftime only runs on rows in range.
        epoch = "CAST(strftime('%%s', received_at) AS INTEGER)"
    # LN and FLOOR exist on PostgreSQL and on every SQLite connection Django opens.
    bin_sql = (
        "CASE WHEN ack_latency_ms IS NULL THEN NULL "
        "ELSE CAST(floor(ln((CASE WHEN ack_latency_ms > %s THEN ack_latency_ms ELSE %s END) / %s) / %s) AS INTEGER) END"
    )
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    sql = f"""
        SELECT CAST(floor({epoch} / %s) AS BIGINT) AS bucket, {bin_sql} AS bin, count(*),
               sum(CASE WHEN status IN (%s, %s) THEN 1 ELSE 0 END)
        FROM {table}
        WHERE received_at >= %s AND received_at < %s AND NOT synthetic
        GROUP BY 1, 2
    """  # noqa: S608 (the table name comes from the model; values are parameters)
    ops = connection.ops
    params = [
        size, BIN_BASE_MS, BIN_BASE_MS, BIN_BASE_MS, math.log(BIN_RATIO), *ERROR_STATUSES,
        ops.adapt_datetimefield_value(since), ops.adapt_datetimefield_value(until),
    ]
    out: dict[int, tuple[int, int, Histogram]] = defaultdict(lambda: (0, 0, {}))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, bin_, count, errs in cursor.fetchall():
            key = int(bucket) * size
            total, errors_, histogram = out[key]
            if bin_ is not None:
                histogram[int(bin_)] = count
            out[key] = (total + count, errors_ + (errs or 0), histogram)
    return dict(out)


def latency(window: timedelta, now: datetime | None = None) -> Histogram:
    """The ingest latency histogram of the real events received in the last `window`."""
    now = now or timezone.now()
    merged: Histogram = {}
    for _, _, histogram in histograms(now - window, now + timedelta(microseconds=1), HOUR * 24 * 366).values():
        for b, n in histogram.items():
            merged[b] = merged.get(b, 0) + n
    return merged


# --- Backlog and queue ------------------------------------------------------------------


def stuck_events(now: datetime | None = None) -> int:
    """Events still processing HEALTH_STUCK_GRACE_SECONDS after their lease lapsed. The
    sweeper (every minute) takes a lapsed lease back; one it has not taken back within the
    grace means the sweeper is not doing its job. Partial index webhooks_event_unfinished."""
    limit = (now or timezone.now()) - timedelta(seconds=settings.HEALTH_STUCK_GRACE_SECONDS)
    return WebhookEvent.objects.filter(status=EventStatus.PROCESSING, lease_expires_at__lt=limit).count()


def pending_events(now: datetime | None = None) -> dict[str, Any]:
    """Events stored but not finished (received or processing), and the age of the oldest
    one waiting to be picked up."""
    now = now or timezone.now()
    pending = WebhookEvent.objects.pending()
    oldest = pending.filter(status=EventStatus.RECEIVED).aggregate(oldest=Min("received_at"))["oldest"]
    return {
        "pending_events": pending.count(),
        "oldest_pending_age_s": round((now - oldest).total_seconds(), 1) if oldest else None,
    }


def open_dead_letters() -> int:
    """Dead letters waiting for a person: open, or claimed by a replay still running."""
    return DeadLetter.objects.unresolved().count()


@dataclass(frozen=True)
class DeadLetterBacklog:
    """The dead letters open_dead_letters() counts: how many, by topic, and their error groups."""

    open: int
    by_topic: list[dict[str, Any]]  # {"topic", "n"}, biggest first, then by topic
    groups: list[dict[str, Any]]  # DeadLetter.objects.error_groups(), the `top` biggest


def dead_letter_backlog(top: int) -> DeadLetterBacklog:
    """The backlog from one grouped read (at 100,000 dead letters each read is a scan: the
    count, the topics and the groups were three). Per fingerprint and topic: a fingerprint
    includes its topic, so each row is one error group, and the topics and the total are
    sums of rows. Should a fingerprint ever span topics, error_groups() itself is asked."""
    rows = list(DeadLetter.objects.error_groups(per_topic=True))
    by_topic: dict[str, int] = defaultdict(int)
    for row in rows:
        by_topic[row["topic"]] += row["count"]
    if len({row["fingerprint"] for row in rows}) == len(rows):
        groups = rows[:top]
    else:
        groups = list(DeadLetter.objects.error_groups()[:top])
    return DeadLetterBacklog(
        open=sum(by_topic.values()),
        by_topic=[{"topic": t, "n": n} for t, n in sorted(by_topic.items(), key=lambda item: (-item[1], item[0]))],
        groups=groups,
    )


def queue_state(now: datetime | None = None) -> dict[str, Any]:
    """The configured django-q2 broker's queue: {"kind", "depth", "oldest_age_s", "error"}.
    Depth is the broker's own count of tasks due for this cluster now (django-q2's
    queue_size): a retry written for later is not waiting yet, and is not counted. The
    oldest due task's age is known on the ORM broker only. A broker that cannot be read
    gives depth None and says why, rather than failing the caller."""
    now = now or timezone.now()
    orm = queue_is_transactional()  # one answer to "which broker", the one the intake relies on
    state: dict[str, Any] = {"kind": "orm" if orm else "redis", "depth": None, "oldest_age_s": None, "error": None}
    try:
        with transaction.atomic():
            state["depth"] = int(get_broker().queue_size() or 0)
            if orm:
                # `lock` is when a row becomes due: the enqueue time for a task sent now, the
                # due time for a retry (queue.enqueue_at), a future time for a task a worker
                # holds. Only rows due by now are the queue; the age is how long they waited.
                waiting = OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=now)
                oldest = waiting.aggregate(oldest=Min("lock"))["oldest"]
                state["oldest_age_s"] = round((now - oldest).total_seconds(), 1) if oldest else None
    except (DatabaseError, OSError, RedisError) as exc:
        state["error"] = f"broker unreachable: {type(exc).__name__}"
    return state


# --- Worker clusters --------------------------------------------------------------------


def cache_table_missing() -> str | None:
    """The database cache's table name when the default cache is a database cache whose
    table does not exist (the clusters' heartbeats cannot be stored), else None."""
    config = settings.CACHES.get("default", {})
    if not config.get("BACKEND", "").endswith("db.DatabaseCache"):
        return None
    table = str(config["LOCATION"])
    return None if table in connection.introspection.table_names() else table


def running_clusters() -> list[Any]:
    """django-q2 heartbeats of the clusters that are running, from the shared cache. A
    cluster that stopped keeps its last heartbeat (status "Stopped") for a few seconds: not
    running. Raises what the cache raises."""
    with transaction.atomic():
        return [s for s in Stat.get_all() if str(s.status) != Conf.STOPPED]


# --- Service levels ---------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    """The runbook's service levels, read from settings when asked (never copied at import)."""

    p95_ms: float
    p99_ms: float
    error_rate: float

    def met(self, p95: float | None, p99: float | None, error_rate: float) -> dict[str, bool]:
        return {
            "p95_met": p95 is None or p95 <= self.p95_ms,
            "p99_met": p99 is None or p99 <= self.p99_ms,
            "error_rate_met": error_rate <= self.error_rate,
        }


def targets() -> Targets:
    return Targets(settings.SLO_P95_MS, settings.SLO_P99_MS, settings.SLO_ERROR_RATE)
