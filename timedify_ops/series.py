"""Webhook traffic over time: volume, errors and ingest latency per time bucket.

Settled hours come from the TrafficHour rollup (filled here, on demand, one query for all
the hours it lacks); only the last hour or so is read live from the events table, with one
grouped query over the `received_at` index. Both sides produce the same thing: per bucket,
a count, an error count and a latency histogram of log-spaced bins 2 % wide, from which
percentiles are read by interpolation (within about 1 % of the exact value, the same on
PostgreSQL and SQLite, and mergeable across hours, which exact percentiles are not).

Synthetic deliveries (synthetic_webhook_test) are left out: they are tests, not traffic.
An error is an event that ended failed or dead.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from webhooks.models import WebhookEvent

ERROR_STATUSES = ("failed", "dead")
# The runbook's service levels, from settings (one source for the dashboard, the metrics
# and alerting).
SLO_P95_MS: float = settings.SLO_P95_MS
SLO_P99_MS: float = settings.SLO_P99_MS
SLO_ERROR_RATE: float = settings.SLO_ERROR_RATE
# Latency bins: bin b holds [BIN_BASE_MS * RATIO**b, BIN_BASE_MS * RATIO**(b+1)).
BIN_BASE_MS = 0.01
BIN_RATIO = 1.02
HOUR = 3600

Histogram = dict[int, int]


@dataclass
class Bucket:
    start: datetime
    count: int = 0
    errors: int = 0
    histogram: Histogram = field(default_factory=dict, repr=False)

    def add(self, count: int, errors: int, histogram: Histogram) -> None:
        self.count += count
        self.errors += errors
        for b, n in histogram.items():
            self.histogram[b] = self.histogram.get(b, 0) + n

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def p50(self) -> float | None:
        return percentile(self.histogram, 0.5)

    @property
    def p95(self) -> float | None:
        return percentile(self.histogram, 0.95)

    @property
    def p99(self) -> float | None:
        return percentile(self.histogram, 0.99)

    @property
    def within_slo(self) -> bool:
        p95, p99 = self.p95, self.p99
        return (
            self.error_rate <= SLO_ERROR_RATE
            and (p95 is None or p95 <= SLO_P95_MS)
            and (p99 is None or p99 <= SLO_P99_MS)
        )


@dataclass
class Series:
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def total(self) -> Bucket:
        total = Bucket(start=self.since)
        for b in self.buckets:
            total.add(b.count, b.errors, b.histogram)
        return total

    def compliance(self) -> dict[str, object]:
        """SLO figures for the whole window, and the share of buckets with traffic that
        met every SLO (p95, p99 and error rate together)."""
        busy = [b for b in self.buckets if b.count]
        good = sum(1 for b in busy if b.within_slo)
        t = self.total
        p50, p95, p99 = t.p50, t.p95, t.p99
        return {
            "events": t.count,
            "errors": t.errors,
            "error_rate": round(t.error_rate, 6),
            "p50_ms": _round(p50),
            "p95_ms": _round(p95),
            "p99_ms": _round(p99),
            "p95_met": p95 is None or p95 <= SLO_P95_MS,
            "p99_met": p99 is None or p99 <= SLO_P99_MS,
            "error_rate_met": t.error_rate <= SLO_ERROR_RATE,
            "buckets_with_traffic": len(busy),
            "buckets_within_slo": good,
            "compliance_pct": round(100.0 * good / len(busy), 2) if busy else 100.0,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def percentile(histogram: Histogram, p: float) -> float | None:
    """The p-th percentile (linear between ranks, as percentile_cont), reading values as
    spread evenly (in log space) across their bin."""
    n = sum(histogram.values())
    if not n:
        return None
    rank = p * (n - 1)
    seen = 0
    for b in sorted(histogram):
        count = histogram[b]
        if seen + count > rank:
            fraction = (rank - seen + 0.5) / count
            return BIN_BASE_MS * BIN_RATIO ** (b + fraction)
        seen += count
    return None


def floor_to(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def series(window: timedelta, bucket_seconds: int, *, now: datetime | None = None) -> Series:
    """Buckets of `bucket_seconds` covering the last `window`, aligned on the bucket size,
    oldest first, empty buckets included (a gap in traffic is a fact worth drawing).
    Whole-hour buckets read settled hours from the rollup; shorter ones read live."""
    from timedify_ops import rollup

    now = now or timezone.now()
    since = floor_to(now - window, bucket_seconds) + timedelta(seconds=bucket_seconds)
    result = Series(since=since, until=now, bucket_seconds=bucket_seconds)
    by_start: dict[int, Bucket] = {}
    start = since
    while start <= now:
        bucket = Bucket(start=start)
        result.buckets.append(bucket)
        by_start[int(start.timestamp())] = bucket
        start += timedelta(seconds=bucket_seconds)

    def bucket_of(epoch: int) -> Bucket | None:
        return by_start.get(epoch - epoch % bucket_seconds)

    live_from = since
    if bucket_seconds % HOUR == 0:
        settled = rollup.fill(now)
        for hour in rollup.hours(since, settled):
            target = bucket_of(int(hour.hour.timestamp()))
            if target is not None:
                target.add(hour.events, hour.errors, {int(b): n for b, n in hour.latency_histogram.items()})
        live_from = max(since, settled)
    for epoch, (count, errors, histogram) in histograms(live_from, now + timedelta(seconds=1), bucket_seconds).items():
        target = bucket_of(epoch)
        if target is not None:
            target.add(count, errors, histogram)
    return result


def histograms(since: datetime, until: datetime, size: int) -> dict[int, tuple[int, int, Histogram]]:
    """Count, errors and latency histogram per bucket of `size` seconds (keyed by the
    bucket's start, epoch seconds) for events received in [since, until). One grouped
    query over the received_at index; the output is bounded by buckets x bins."""
    if connection.vendor == "postgresql":
        epoch = "extract(epoch FROM received_at)"
    else:
        # Stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text (UTC); strftime only runs on rows in range.
        epoch = "CAST(strftime('%%s', received_at) AS INTEGER)"
    # LN and FLOOR exist on PostgreSQL and on every SQLite connection Django opens.
    latency_bin = (
        "CASE WHEN ack_latency_ms IS NULL THEN NULL "
        "ELSE CAST(floor(ln((CASE WHEN ack_latency_ms > %s THEN ack_latency_ms ELSE %s END) / %s) / %s) AS INTEGER) END"
    )
    table = connection.ops.quote_name(WebhookEvent._meta.db_table)
    sql = f"""
        SELECT CAST(floor({epoch} / %s) AS BIGINT) AS bucket, {latency_bin} AS bin, count(*),
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
    out: dict[int, list[object]] = defaultdict(lambda: [0, 0, {}])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, latency_bin, count, errors in cursor.fetchall():
            row = out[int(bucket) * size]
            row[0] += count  # type: ignore[operator]
            row[1] += errors or 0  # type: ignore[operator]
            if latency_bin is not None:
                row[2][int(latency_bin)] = count  # type: ignore[index]
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}  # type: ignore[misc]

