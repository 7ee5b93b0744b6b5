"""Scenarios 2 and 3: the database or the broker goes away during work.

2. PostgreSQL restarts during a burst: deliveries during the outage are answered 503
   (never 200, never a 500), nothing is half-written, and web and workers recover on
   their own; Shopify's retries of the refused deliveries are then stored.
3. Redis (which keeps nothing on disk) is killed with events queued: its queue is gone,
   the sweeper puts the stored events back and they are processed.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter

import pytest

from tests.reliability import harness

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]


def _until_stopped(base: str, stop: threading.Event, threads: int = 6) -> list[tuple[harness.Delivery, int]]:
    """Send new deliveries from `threads` threads until `stop` is set."""
    results: list[tuple[harness.Delivery, int]] = []
    counter = itertools.count()

    def loop() -> None:
        while not stop.is_set():
            delivery = harness.Delivery(webhook_id=f"outage-{next(counter)}-{uuid.uuid4()}")
            results.append((delivery, harness.post(base, delivery)))

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    stop.wait()
    for w in workers:
        w.join(30)
    return results


def test_it_answers_503_while_postgresql_restarts_and_recovers_alone(private_pg, scenario_db, private_redis, work):
    env = harness.base_env(work, private_pg.url(scenario_db), private_redis.url, CONN_MAX_AGE="60")
    web, base = harness.gunicorn(work, env, workers=3)
    cluster = harness.qcluster(work, env)
    stop = threading.Event()
    results: list[tuple[harness.Delivery, int]] = []
    sender = threading.Thread(target=lambda: results.extend(_until_stopped(base, stop)))
    try:
        sender.start()
        time.sleep(2)
        private_pg.stop("fast")  # terminates every open connection, refuses new ones
        time.sleep(3)
        private_pg.start()
        time.sleep(3)
        stop.set()
        sender.join(60)
        statuses = Counter(status for _, status in results)
        refused = [d for d, s in results if s == 503]
        # Shopify retries what was refused; nobody restarted gunicorn or the cluster.
        retries = harness.send_all(base, refused, threads=6)
        sweep = harness.sweeper(work, env, duration=60)
        harness.wait_for(
            lambda: set(harness.event_states(private_pg, scenario_db).values()) == {"processed"}, 60,
            "every stored event processed", interval=1,
        )
    finally:
        stop.set()
        for service in (web, cluster):
            service.stop()
        if "sweep" in locals():
            sweep.stop()
    states = harness.event_states(private_pg, scenario_db)
    runs = harness.side_effects(private_pg, scenario_db)
    acknowledged = {d.webhook_id for d, s in results if s == 200} | {d.webhook_id for d, s in zip(refused, retries, strict=True) if s == 200}
    half_written = private_pg.query(
        "SELECT count(*) FROM webhooks_webhookevent e WHERE e.payload IS NULL OR e.topic = '' "
        "OR NOT EXISTS (SELECT 1 FROM webhooks_eventattempt a WHERE a.event_id = e.id AND a.outcome = 'ok')", scenario_db)[0][0]
    harness.report(
        "postgres-restart", sent=len(results), acknowledged_first_try=statuses[200], refused_503=statuses[503],
        other_statuses=sum(n for s, n in statuses.items() if s not in (200, 503)), retried_ok=sum(s == 200 for s in retries),
        stored=len(states), processed=sum(s == "processed" for s in states.values()), half_written=half_written,
        side_effects_over_1=sum(n > 1 for n in runs.values()), lost=len(acknowledged - set(states)),
    )
    assert set(statuses) <= {200, 503}, f"unexpected answers {statuses}\n{web.log_tail()}"
    assert statuses[503] > 0, "the outage was not observed: the scenario proved nothing"
    assert retries == [200] * len(refused)
    assert acknowledged == set(states) == {d.webhook_id for d, _ in results}
    assert half_written == 0
    assert set(runs) == set(states) and set(runs.values()) == {1}


def test_it_brings_back_queued_events_after_redis_loses_them(private_pg, scenario_db, private_redis, work):
    env = harness.base_env(work, private_pg.url(scenario_db), private_redis.url)
    web, base = harness.gunicorn(work, env, workers=2)
    queued = [harness.Delivery(webhook_id=f"redis-{uuid.uuid4()}") for _ in range(200)]
    during_outage = [harness.Delivery(webhook_id=f"redis-down-{uuid.uuid4()}") for _ in range(50)]
    try:
        # No cluster yet: the events wait in Redis.
        statuses = harness.send_all(base, queued, threads=6)
        queued_before = private_redis.queued()
        private_redis.kill()
        # Redis down: still stored and acknowledged, the enqueue failure is only logged.
        outage_statuses = harness.send_all(base, during_outage, threads=6)
        private_redis.start()
        queued_after = private_redis.queued()
        cluster = harness.qcluster(work, env)
        sweep = harness.sweeper(work, env, duration=60)
        harness.wait_for(
            lambda: set(harness.event_states(private_pg, scenario_db).values()) == {"processed"}, 60,
            "every stored event processed", interval=1,
        )
    finally:
        web.stop()
        if "cluster" in locals():
            cluster.stop()
        if "sweep" in locals():
            sweep.stop()
    states = harness.event_states(private_pg, scenario_db)
    runs = harness.side_effects(private_pg, scenario_db)
    sent = queued + during_outage
    acknowledged = {d.webhook_id for d, s in zip(sent, statuses + outage_statuses, strict=True) if s == 200}
    harness.report(
        "redis-restart", sent=len(sent), acknowledged=len(acknowledged), queued_before_kill=queued_before,
        queued_after_restart=queued_after, stored=len(states), processed=sum(s == "processed" for s in states.values()),
        side_effects_over_1=sum(n > 1 for n in runs.values()), lost=len(acknowledged - set(states)),
    )
    assert queued_before == len(queued) and queued_after == 0, "the queue was not lost: the scenario proved nothing"
    assert statuses + outage_statuses == [200] * len(sent)
    assert set(states) == acknowledged
    assert set(runs) == acknowledged and set(runs.values()) == {1}
