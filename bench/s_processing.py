"""Processing: a steady stream of deliveries with a real qcluster working it off.

The console runs behind gunicorn and a `manage.py qcluster` beside it, as in production.
The load generator posts app/scopes_update deliveries (a built-in handler that writes the
shop) at a fixed rate; every second the harness counts the backlog (events received or
processing). Afterwards PostgreSQL computes the percentiles of processed_at - received_at
over every event of the run. Once with the ORM broker, once with Redis.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

from bench.common import (
    Options,
    Results,
    child_env,
    gunicorn,
    purge_redis_queue,
    qcluster,
    reset_event_tables,
    run_loadgen,
    say,
    scalar,
)

NAME = "processing"
TOPIC = "app/scopes_update"
DRAIN_SECONDS = 60


def backlog() -> int:
    return int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE status IN ('received', 'processing')"))


def slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth of the backlog, in events per second."""
    if len(samples) < 2:
        return 0.0
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_b = sum(b for _, b in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    return sum((t - mean_t) * (b - mean_b) for t, b in samples) / var if var else 0.0


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection

        t0 = time.monotonic()
        while not self.stopping.wait(1.0):
            self.samples.append((time.monotonic() - t0, backlog()))
        connection.close()


def ack_to_processed(prefix: str) -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(processed_at),
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)),
                   percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM processed_at - received_at)),
                   max(extract(epoch FROM processed_at - received_at))
            FROM webhooks_webhookevent WHERE webhook_id LIKE %s
            """,
            (prefix + "-%",),
        )
        total, done, p50, p95, worst = cursor.fetchone()
        cursor.execute(
            "SELECT status, count(*) FROM webhooks_webhookevent WHERE webhook_id LIKE %s GROUP BY status", (prefix + "-%",)
        )
        statuses = dict(cursor.fetchall())
    return {"events": total, "processed": done, "p50_s": p50, "p95_s": p95, "max_s": worst, "statuses": statuses}


def run(opts: Options, results: Results) -> None:
    brokers: list[tuple[str, dict[str, str]]] = [("orm", {})] + ([("redis", {"REDIS_URL": opts.redis_url})] if opts.redis_url else [])
    for broker, extra in brokers:
        reset_event_tables()
        if broker == "redis":
            purge_redis_queue(opts.redis_url)
        env = child_env(opts, **extra)
        prefix = f"proc-{broker}-{uuid.uuid4().hex[:6]}"
        with gunicorn(opts, "timedify_ops.wsgi:application", env=env, label=f"{broker} broker") as (port, _web):
            with qcluster(env):
                time.sleep(3)  # the cluster forks its workers
                sampler = Sampler()
                sampler.start()
                load = run_loadgen(port, mode="rate", prefix=prefix, duration=opts.processing_seconds,
                                   rate=opts.processing_rate, topic=TOPIC)
                sampler.stopping.set()
                sampler.join()
                drained_in = None
                t0 = time.monotonic()
                while time.monotonic() - t0 < DRAIN_SECONDS:
                    if backlog() == 0:
                        drained_in = time.monotonic() - t0
                        break
                    time.sleep(0.25)
        stats = ack_to_processed(prefix)
        growth = slope(sampler.samples)
        peak = max((b for _, b in sampler.samples), default=0)
        drained = f"in {drained_in:.1f}s" if drained_in is not None else f"NOT within {DRAIN_SECONDS}s"
        # Flat: over the whole load phase the fitted backlog grew by less than one second of intake.
        flat = growth * opts.processing_seconds < opts.processing_rate
        results.raw.setdefault(NAME, {})[broker] = {"load": load, "stats": stats, "backlog": sampler.samples}
        say(f"    {broker}: {stats['processed']}/{stats['events']} processed, statuses {stats['statuses']}, "
            f"ingest p99 {load['p99_ms']} ms, {load['ok']} acknowledged")
        how = (f"{opts.processing_rate:g} deliveries/s of {TOPIC} for {opts.processing_seconds:g}s through gunicorn, "
               "qcluster with default Q_CLUSTER settings; percentile_cont over processed_at - received_at of every event")
        p95 = float(stats["p95_s"]) if stats["p95_s"] is not None else float("nan")
        results.add(NAME, f"{broker} broker ack-to-processed p50", round(float(stats["p50_s"] or 0), 3), "s", how=how)
        results.add(NAME, f"{broker} broker ack-to-processed p95", round(p95, 3), "s", target="<= 0.3", met=p95 <= 0.3, how=how)
        results.add(NAME, f"{broker} broker backlog growth", round(growth, 2), "events/s",
                    target=f"flat (< {opts.processing_rate:g} over the run)", met=flat,
                    how=f"least-squares slope of the backlog sampled every second; peak {peak}; "
                        f"drained {drained} after the load")
        unprocessed = int(stats["events"]) - int(stats["processed"])
        results.add(NAME, f"{broker} broker events not finished", unprocessed, "", target="0", met=unprocessed == 0,
                    how=f"events of the run without processed_at {DRAIN_SECONDS}s after the load stopped")
