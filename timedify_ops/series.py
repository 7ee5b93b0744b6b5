"""Webhook traffic over time: volume, errors and ingest latency per time bucket.

One aggregate query per window, over the `received_at` index, so the cost is one indexed
range scan whatever the table size. Percentiles are exact on PostgreSQL (percentile_cont,
with GROUPING SETS giving the buckets and the window total in the same scan). SQLite has
no percentile function: there the query returns a histogram per bucket at 1 ms resolution
(at most buckets x distinct whole milliseconds rows, however many events) and the
percentiles are read from it in Python, exact to the millisecond.

Synthetic deliveries (synthetic_webhook_test) are left out: they are tests, not traffic.
An error is an event that ended failed or dead.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

from webhooks.models import WebhookEvent

ERROR_STATUSES = ("failed", "dead")
PERCENTILES = (0.5, 0.95, 0.99)
# The runbook's service levels.
SLO_P95_MS = 100.0
SLO_P99_MS = 500.0
SLO_ERROR_RATE = 0.005


@dataclass
class Bucket:
    start: datetime
    count: int = 0
    errors: int = 0
    p50: float | None = None
    p95: float | None = None
    p99: float | None = None

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @property
    def within_slo(self) -> bool:
        return (
            self.error_rate <= SLO_ERROR_RATE
            and (self.p95 is None or self.p95 <= SLO_P95_MS)
            and (self.p99 is None or self.p99 <= SLO_P99_MS)
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "start": self.start.isoformat(),
            "count": self.count,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 6),
            "p50_ms": _round(self.p50),
            "p95_ms": _round(self.p95),
            "p99_ms": _round(self.p99),
        }


@dataclass
class Series:
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Bucket] = field(default_factory=list)
    total: Bucket = field(default_factory=lambda: Bucket(start=timezone.now()))

    def compliance(self) -> dict[str, object]:
        """SLO figures for the whole window, and the share of hours with traffic that met
        every SLO (p95, p99 and error rate together)."""
        busy = [b for b in self.buckets if b.count]
        good = sum(1 for b in busy if b.within_slo)
        t = self.total
        return {
            "events": t.count,
            "errors": t.errors,
            "error_rate": round(t.error_rate, 6),
            "p50_ms": _round(t.p50),
            "p95_ms": _round(t.p95),
            "p99_ms": _round(t.p99),
            "p95_met": t.p95 is None or t.p95 <= SLO_P95_MS,
            "p99_met": t.p99 is None or t.p99 <= SLO_P99_MS,
            "error_rate_met": t.error_rate <= SLO_ERROR_RATE,
            "buckets_with_traffic": len(busy),
            "buckets_within_slo": good,
            "compliance_pct": round(100.0 * good / len(busy), 2) if busy else 100.0,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _floor(moment: datetime, seconds: int) -> datetime:
    epoch = int(moment.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def series(window: timedelta, bucket_seconds: int, *, now: datetime | None = None) -> Series:
    """Buckets of `bucket_seconds` covering the last `window`, aligned on the bucket size,
    oldest first, empty buckets included (a gap in traffic is a fact worth drawing)."""
    now = now or timezone.now()
    since = _floor(now - window, bucket_seconds) + timedelta(seconds=bucket_seconds)
    result = Series(since=since, until=now, bucket_seconds=bucket_seconds)
    if connection.vendor == "postgresql":
        rows, total = _postgres(since, now, bucket_seconds)
    else:
        rows, total = _histogram(since, now, bucket_seconds)
    start = since
    while start <= now:
        result.buckets.append(rows.get(int(start.timestamp()), Bucket(start=start)))
        start += timedelta(seconds=bucket_seconds)
    result.total = total
    result.total.start = since
    return result


def _table() -> str:
    return connection.ops.quote_name(WebhookEvent._meta.db_table)


def _postgres(since: datetime, until: datetime, size: int) -> tuple[dict[int, Bucket], Bucket]:
    # The GROUPING SETS row with a NULL bucket is the total of the whole window.
    sql = f"""
        SELECT bucket, count(*), count(*) FILTER (WHERE status = ANY(%s)),
               percentile_cont(ARRAY[%s, %s, %s]) WITHIN GROUP (ORDER BY ack_latency_ms)
        FROM (
            SELECT floor(extract(epoch FROM received_at) / %s)::bigint * %s AS bucket, status, ack_latency_ms
            FROM {_table()}
            WHERE received_at >= %s AND received_at <= %s AND NOT synthetic
        ) AS recent
        GROUP BY GROUPING SETS ((bucket), ())
    """  # noqa: S608 (the table name comes from the model; values are parameters)
    params = [list(ERROR_STATUSES), *PERCENTILES, size, size, since, until]
    rows: dict[int, Bucket] = {}
    total = Bucket(start=since)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, count, errors, pcts in cursor.fetchall():
            p50, p95, p99 = pcts if pcts else (None, None, None)
            if bucket is None:
                total = Bucket(start=since, count=count, errors=errors, p50=p50, p95=p95, p99=p99)
            else:
                start = datetime.fromtimestamp(int(bucket), UTC)
                rows[int(bucket)] = Bucket(start=start, count=count, errors=errors, p50=p50, p95=p95, p99=p99)
    return rows, total


def _histogram(since: datetime, until: datetime, size: int) -> tuple[dict[int, Bucket], Bucket]:
    # received_at is stored as 'YYYY-MM-DD HH:MM:SS[.ffffff]' text; the range predicate
    # uses the index, strftime only runs on the rows in range.
    sql = f"""
        SELECT (CAST(strftime('%%s', received_at) AS INTEGER) / %s) * %s AS bucket,
               CAST(ack_latency_ms AS INTEGER) AS ms,
               count(*),
               sum(CASE WHEN status IN (%s, %s) THEN 1 ELSE 0 END)
        FROM {_table()}
        WHERE received_at >= %s AND received_at <= %s AND NOT synthetic
        GROUP BY bucket, ms
    """  # noqa: S608 (the table name comes from the model; values are parameters)
    ops = connection.ops
    params = [size, size, *ERROR_STATUSES, ops.adapt_datetimefield_value(since),
              ops.adapt_datetimefield_value(until)]
    hist: dict[int, dict[int, int]] = defaultdict(dict)
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for bucket, ms, count, errors in cursor.fetchall():
            counts[bucket][0] += count
            counts[bucket][1] += errors
            if ms is not None:
                hist[bucket][ms] = hist[bucket].get(ms, 0) + count
    rows: dict[int, Bucket] = {}
    overall: dict[int, int] = defaultdict(int)
    for bucket, (count, errors) in counts.items():
        p50, p95, p99 = _percentiles(hist[bucket])
        rows[bucket] = Bucket(datetime.fromtimestamp(bucket, UTC), count, errors, p50, p95, p99)
        for ms, n in hist[bucket].items():
            overall[ms] += n
    total = Bucket(
        since, sum(c for c, _ in counts.values()), sum(e for _, e in counts.values()), *_percentiles(overall)
    )
    return rows, total


def _percentiles(hist: dict[int, int]) -> tuple[float | None, float | None, float | None]:
    """Percentiles of a histogram of whole milliseconds (value ms stands for [ms, ms+1)),
    by linear interpolation between ranks as percentile_cont does, at 1 ms resolution."""
    n = sum(hist.values())
    if not n:
        return None, None, None
    values = sorted(hist.items())
    out: list[float] = []
    for p in PERCENTILES:
        rank = p * (n - 1)
        seen = 0
        for ms, count in values:
            if seen + count > rank:
                # Spread the bucket's values evenly over its millisecond.
                out.append(ms + (rank - seen + 0.5) / count)
                break
            seen += count
    return out[0], out[1], out[2]
