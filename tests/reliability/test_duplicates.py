"""Scenario 4: 10,000 concurrent deliveries to gunicorn on PostgreSQL, 30 % of them
copies of another delivery (same X-Shopify-Webhook-Id): exactly one event per id."""

from __future__ import annotations

import os
import random
import time
import uuid

import pytest

from tests.reliability import harness

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]  # the 10,000 deliveries take 20 s on an idle 2-core machine, 110 s on a busy one

TOTAL = int(os.environ.get("RELIABILITY_DUPLICATES_TOTAL", "10000"))


def test_it_stores_one_event_per_webhook_id_under_concurrent_duplicates(private_pg, scenario_db, private_redis, work):
    unique = [harness.Delivery(webhook_id=f"dup-{uuid.uuid4()}") for _ in range(int(TOTAL * 0.7))]
    rng = random.Random(8)
    deliveries = unique + [rng.choice(unique) for _ in range(TOTAL - len(unique))]
    rng.shuffle(deliveries)
    # Persistent connections, as docs/deploy.md recommends for the web processes.
    env = harness.base_env(work, private_pg.url(scenario_db), private_redis.url, CONN_MAX_AGE="60")
    web, base = harness.gunicorn(work, env, workers=4)
    try:
        started = time.monotonic()
        statuses = harness.send_all(base, deliveries, threads=16)
        elapsed = time.monotonic() - started
    finally:
        web.stop()
    acknowledged = {d.webhook_id for d, s in zip(deliveries, statuses, strict=True) if 200 <= s < 300}
    rows = private_pg.query("SELECT webhook_id, count(*) FROM webhooks_webhookevent GROUP BY webhook_id", scenario_db)
    stored = dict(rows)
    harness.report(
        "duplicates", sent=len(deliveries), unique_ids=len(unique), acknowledged=sum(200 <= s < 300 for s in statuses),
        stored=len(stored), max_rows_per_id=max(stored.values(), default=0), lost=len(acknowledged - set(stored)),
        seconds=round(elapsed, 1), per_second=round(len(deliveries) / elapsed),
    )
    assert all(s == 200 for s in statuses), f"non-200 answers: {sorted(set(statuses))}\n{web.log_tail()}"
    assert set(stored) == {d.webhook_id for d in unique}
    assert set(stored.values()) == {1}
