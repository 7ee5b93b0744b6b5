"""Flood: an upstream outage must not stall the other topics.

gunicorn and a `manage.py qcluster` with the default Q_CLUSTER settings (ORM broker) and
the default retry budget. First 300 deliveries of a topic whose handler fails with an
ordinary retryable error (tests/always-fails: an upstream API that is down), then 20
app/scopes_update deliveries spread over 10 s. Measured: p95 of processed_at -
received_at of those 20 (target < 2 s), and where the failing events stand by then.
"""

from __future__ import annotations

import time
import uuid

from bench.common import Options, Results, child_env, gunicorn, qcluster, reset_event_tables, run_loadgen, say, scalar
from bench.s_processing import ack_to_processed

NAME = "flood"
FAILING = "tests/always-fails"
HEALTHY = "app/scopes_update"
WAIT_SECONDS = 120


def _unfinished(prefix: str) -> int:
    return int(scalar(
        "SELECT count(*) FROM webhooks_webhookevent WHERE webhook_id LIKE %s AND status IN ('received', 'processing')",
        (prefix + "-%",),
    ))


def run(opts: Options, results: Results) -> None:
    reset_event_tables()
    flood_rate, flood_seconds, healthy_seconds = (30.0, 1.0, 2.5) if opts.smoke else (100.0, 3.0, 10.0)
    env = child_env(opts, WEBHOOK_EXTRA_HANDLER_MODULES="webhooks.tests.worker_handlers")
    run_id = uuid.uuid4().hex[:6]
    flood, healthy = f"flood-{run_id}", f"healthy-{run_id}"
    with gunicorn(opts, "timedify_ops.wsgi:application", env=env, label="ORM broker") as (port, _web), qcluster(env):
        time.sleep(3)  # the cluster forks its workers
        # rate x seconds deliveries: 300 failing, then 20 healthy over 10 s.
        run_loadgen(port, mode="rate", prefix=flood, duration=flood_seconds, rate=flood_rate, topic=FAILING)
        run_loadgen(port, mode="rate", prefix=healthy, duration=healthy_seconds, rate=2.0, topic=HEALTHY)
        t0 = time.monotonic()
        while time.monotonic() - t0 < WAIT_SECONDS and _unfinished(healthy):
            time.sleep(0.5)
    stats = ack_to_processed(healthy)
    failing = ack_to_processed(flood)
    say(f"    healthy: {stats['processed']}/{stats['events']} processed; flood statuses {failing['statuses']}")
    how = (f"{failing['events']} deliveries of {FAILING} (handler always raises), then {stats['events']} of {HEALTHY} "
           f"at 2/s, through gunicorn and qcluster with default settings (ORM broker); "
           f"percentile_cont over processed_at - received_at of the {HEALTHY} events, waited up to {WAIT_SECONDS}s")
    p95 = float(stats["p95_s"]) if stats["p95_s"] is not None else None
    met = p95 is not None and stats["processed"] == stats["events"] and p95 < 2
    results.add(NAME, f"{HEALTHY} ack-to-processed p95 during the flood", round(p95, 3) if p95 is not None else None, "s",
                target="< 2", met=met, how=how)
    results.add(NAME, f"{HEALTHY} events processed", f"{stats['processed']}/{stats['events']}", "", how=how)
    results.add(NAME, f"{FAILING} events by status at the end", str(failing["statuses"]), "",
                how="when the healthy events were done (or the wait ended)")
