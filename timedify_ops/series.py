"""Webhook traffic over time: volume, errors and ingest latency per time bucket.

Settled hours come from the TrafficHour rollup (filled here, on demand, one query for all
the hours it lacks); only the last hour or so is read live from the events table, with one
grouped query over the `received_at` index. Both sides produce the same thing: per bucket,
a count, an error count and a latency histogram of log-spaced bins 2 % wide (mergeable
across hours, which exact percentiles are not). Every figure is defined in `figures`:
errors, the percentile, the SLO targets; this module only groups them by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from django.utils import timezone

from timedify_ops import rollup
from timedify_ops.figures import HOUR, Histogram, Targets, floor_to, histograms, percentile, targets


@dataclass
class Bucket:
    start: datetime
    count: int = 0
    errors: int = 0
    histogram: Histogram = field(default_factory=dict, repr=False)

    def add(self, count: int, errors: int, histogram: Histogram) -> None:
        self.count += count
        self.errors += errors
        merged = self.histogram
        for b, n in histogram.items():
            merged[b] = merged.get(b, 0) + n
        self.__dict__.pop("_percentiles", None)

    @property
    def error_rate(self) -> float:
        return self.errors / self.count if self.count else 0.0

    @cached_property
    def _percentiles(self) -> dict[float, float | None]:
        # A chart and the SLO figures read each bucket's percentiles several times.
        return {p: percentile(self.histogram, p) for p in (0.5, 0.95, 0.99)}

    @property
    def p50(self) -> float | None:
        return self._percentiles[0.5]

    @property
    def p95(self) -> float | None:
        return self._percentiles[0.95]

    @property
    def p99(self) -> float | None:
        return self._percentiles[0.99]

    def within(self, slo: Targets) -> bool:
        return all(slo.met(self.p95, self.p99, self.error_rate).values())


@dataclass
class Series:
    since: datetime
    until: datetime
    bucket_seconds: int
    buckets: list[Bucket] = field(default_factory=list)

    @cached_property
    def total(self) -> Bucket:
        """Every bucket together (read once the series is built)."""
        total = Bucket(start=self.since)
        for b in self.buckets:
            total.add(b.count, b.errors, b.histogram)
        return total

    def last(self, window: timedelta) -> Series:
        """The last `window` of this series: the buckets series(window, bucket_seconds,
        now=until) would hold, with the same data (each bucket is filled from the rollup
        or the live read by its own start, whatever the window), read once for both."""
        since = floor_to(self.until - window, self.bucket_seconds) + timedelta(seconds=self.bucket_seconds)
        if since < self.since:
            raise ValueError(f"the series starts at {self.since}, after {since}")
        return Series(since=since, until=self.until, bucket_seconds=self.bucket_seconds,
                      buckets=[b for b in self.buckets if b.start >= since])

    def compliance(self) -> dict[str, object]:
        """SLO figures for the whole window, and the share of buckets with traffic that
        met every SLO (p95, p99 and error rate together)."""
        slo = targets()
        busy = [b for b in self.buckets if b.count]
        good = sum(1 for b in busy if b.within(slo))
        t = self.total
        p50, p95, p99 = t.p50, t.p95, t.p99
        return {
            **slo.met(p95, p99, t.error_rate),
            "events": t.count,
            "errors": t.errors,
            "error_rate": round(t.error_rate, 6),
            # Unrounded: every reader shows the same figures.percentile value.
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "buckets_with_traffic": len(busy),
            "buckets_within_slo": good,
            "compliance_pct": round(100.0 * good / len(busy), 2) if busy else 100.0,
        }


def series(window: timedelta, bucket_seconds: int, *, now: datetime | None = None) -> Series:
    """Buckets of `bucket_seconds` covering the last `window`, aligned on the bucket size,
    oldest first, empty buckets included (a gap in traffic is a fact worth drawing).
    Whole-hour buckets read settled hours from the rollup; shorter ones read live."""
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
        # Plain values, not model rows: 168 hours for the 7-day charts.
        rolled = rollup.hours(since, settled).values_list("hour", "events", "errors", "latency_histogram")
        for start, events, errors, histogram in rolled:
            target = bucket_of(int(start.timestamp()))
            if target is not None:
                target.add(events, errors, {int(b): n for b, n in histogram.items()})
        live_from = max(since, settled)
    for epoch, (count, errors, histogram) in histograms(live_from, now + timedelta(seconds=1), bucket_seconds).items():
        target = bucket_of(epoch)
        if target is not None:
            target.add(count, errors, histogram)
    return result
