"""Redrive: does a replay batch hold its rate, and how soon does a pause take effect?

Rate: open dead letters of app/scopes_update (the handler succeeds) are frozen into a
batch at `--redrive-rate` items per second (default 50) and run in this process to the
end, as the worker's task runs it. Each item's start time is its chunk's start (the
report's `started_at`); the rate achieved is measured between the first and the last
chunk start. Target: within 10 % of the batch's rate.

Pause latency: a second batch at the same rate runs in a thread of this process (the
worker); the main thread (another client) clicks pause at a random moment, waits for the
acknowledgement, then resumes, `--redrive-pauses` times. For each click: the time to the
last item started after it (0 when none started after the click) and the time to the
acknowledgement. Reported: p95 of each.
"""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime
from typing import Any

from bench import datagen
from bench.common import NotAvailable, Options, Results, execute, percentile, reset_event_tables, say

NAME = "redrive"
TOPIC = "app/scopes_update"


def dead_letters(count: int, start: int, prefix: str) -> list[int]:
    from deadletters.models import DeadLetter

    first, last = datagen.generate_events(count, prefix=prefix, start=start, status="dead", topic=TOPIC, max_age_days=1)
    datagen.generate_dead_letters(first, last, limit=count)
    return list(DeadLetter.objects.filter(event_id__gte=first, event_id__lte=last).order_by("pk").values_list("pk", flat=True))


def measured_rate(batch: Any) -> tuple[float, float]:
    """(rate between the first and the last chunk start, seconds from first start to the end)."""
    starts: dict[datetime, int] = {}
    for position, started in batch.items.order_by("position").values_list("position", "started_at"):
        starts.setdefault(started, position)
    times = sorted(starts)
    span = (times[-1] - times[0]).total_seconds()
    elapsed = (batch.finished_at - times[0]).total_seconds()
    return (starts[times[-1]] / span if span > 0 else float("inf")), elapsed


def run_rate(items: int, rate: float | None, start: int = 0) -> tuple[float, float]:
    from deadletters import batch_run
    from deadletters.batches import ReplayBatch

    batch = ReplayBatch.start(dead_letters(items, start, f"redrive-rate-{start}-"), None, f"bench: {items} at {rate or 'full speed'}/s",
                              rate=rate, enqueue=False)
    while not batch_run.run(batch, budget_seconds=30):
        pass
    return measured_rate(batch)


def run_pauses(rate: float, pauses: int) -> tuple[list[float], list[float]]:
    """Click pause `pauses` times on a batch a worker thread runs; seconds per click to the
    last item started after it, and to the acknowledgement."""
    from django.db import connection
    from django.utils import timezone

    from deadletters import batch_run
    from deadletters.batches import ReplayBatch

    count = int(rate * (pauses * 1.2 + 5)) + 50  # enough not to run out before the last click
    batch = ReplayBatch.start(dead_letters(count, 1_000_000, "redrive-pause-"), None, "bench: pauses", rate=rate,
                              enqueue=False)
    stop = threading.Event()

    def worker() -> None:
        try:
            mine = ReplayBatch.objects.get(pk=batch.pk)
            while not stop.is_set():
                batch_run.run(mine, budget_seconds=5)
                if mine.status in ("paused", "finished", "cancelled"):
                    time.sleep(0.02)  # idle until resumed, as a queued task would be
        finally:
            connection.close()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    to_last, to_ack = [], []
    randomness = random.Random(14)
    try:
        for _ in range(pauses):
            time.sleep(randomness.uniform(0.4, 1.0))
            click = timezone.now()
            batch.pause(None, "bench")
            while ReplayBatch.objects.filter(pk=batch.pk).values_list("status", flat=True).get() != "paused":
                time.sleep(0.005)
            acknowledged = timezone.now()
            last = batch.items.order_by("-started_at").values_list("started_at", flat=True).first()
            to_last.append(max(0.0, (last - click).total_seconds()) if last else 0.0)
            to_ack.append((acknowledged - click).total_seconds())
            batch.resume(None)
    finally:
        batch.cancel(None)
        stop.set()
        thread.join(10)
    return to_last, to_ack


def run(opts: Options, results: Results) -> None:
    try:
        from deadletters import batch_run  # noqa: F401
    except ImportError as exc:
        raise NotAvailable("deadletters.batch_run (paced replay batches)") from exc
    reset_event_tables()
    items, rate, pauses = opts.redrive_items, opts.redrive_rate, opts.redrive_pauses
    # What this machine can do now, as fast as possible: a rate above it cannot be held,
    # and on a busy shared machine that says nothing about the pacing.
    probe = min(items, 500)
    _, probe_s = run_rate(probe, None, start=2_000_000)
    capacity = probe / probe_s
    say(f"    capacity now: {capacity:.1f} items/s as fast as possible ({probe} items)")
    achieved, elapsed = run_rate(items, rate)
    error = abs(achieved - rate) / rate
    say(f"    {items} items at {rate:g}/s: {achieved:.2f}/s between the first and last chunk start, {elapsed:.1f} s in all")
    to_last, to_ack = run_pauses(rate, pauses)
    p95_last, p95_ack = percentile(to_last, 95), percentile(to_ack, 95)
    say(f"    {pauses} pauses: p95 click to last item started {p95_last * 1000:.0f} ms, to acknowledged {p95_ack * 1000:.0f} ms")
    results.raw[NAME] = {"items": items, "rate": rate, "achieved": achieved, "elapsed_s": elapsed, "capacity": capacity,
                         "to_last_item_s": to_last, "to_acknowledged_s": to_ack}
    how = f"{items} open dead letters of {TOPIC}, one batch at {rate:g}/s run to the end in this process"
    measurable = capacity >= rate * 1.25
    results.add(NAME, "rate held", round(achieved, 2), "items/s", target=f"{rate:g} +/- 10 %",
                met=error <= 0.10 if measurable else None,
                how=how + ("" if measurable else f"; not judged: the machine managed only {capacity:.0f}/s flat out"))
    results.add(NAME, "capacity, as fast as possible", round(capacity, 1), "items/s", how=f"{probe} items, same path")
    how = f"{pauses} clicks on pause at random moments while a worker thread runs a batch at {rate:g}/s"
    results.add(NAME, "pause: click to last item started, p95", round(p95_last * 1000), "ms", target="<= 2000",
                met=p95_last <= 2.0, how=how)
    results.add(NAME, "pause: click to acknowledged, p95", round(p95_ack * 1000), "ms", target="<= 2000",
                met=p95_ack <= 2.0, how=how)
    execute("ANALYZE deadletters_deadletter")
