"""Scenario 1: kill -9 a gunicorn worker and the whole qcluster during a burst.

Every delivery that got a 2xx is stored and ends processed or dead-lettered once the
cluster is restarted and the sweeper has run (short lease); no event's handler commits
twice (the test handler writes one side-effect row per run)."""

from __future__ import annotations

import os
import signal
import threading
import uuid

import pytest

from tests.reliability import harness

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]

TOTAL = int(os.environ.get("RELIABILITY_CRASH_TOTAL", "800"))
FINAL = {"processed", "dead"}


def test_it_loses_nothing_and_runs_nothing_twice_when_processes_are_killed(private_pg, scenario_db, private_redis, work):
    # One delivery in ten goes to a topic that always fails: those must end dead-lettered.
    deliveries = [
        harness.Delivery(webhook_id=f"crash-{i}-{uuid.uuid4()}", topic="reliability/fail" if i % 10 == 0 else "reliability/record")
        for i in range(TOTAL)
    ]
    # The failing topic's own breaker stays out of this scenario (it would hold those
    # events for its probe instead of letting them die; webhooks/tests/test_outcomes.py).
    env = harness.base_env(
        work, private_pg.url(scenario_db), private_redis.url, RELIABILITY_HANDLER_SLEEP_MS="20",
        TOPIC_BREAKER_THRESHOLD="100000",
    )
    web, base = harness.gunicorn(work, env, workers=3)
    cluster = harness.qcluster(work, env)
    killed = {"web_worker": 0, "cluster": 0}

    def chaos(done: int) -> None:
        # Progress callback of the sender (called under its lock, once per answer): at a
        # third, kill -9 one gunicorn worker; at half, kill -9 the whole cluster (main
        # process, monitor, pusher and workers) from another thread.
        if done == TOTAL // 3:
            os.kill(web.children()[0], signal.SIGKILL)
            killed["web_worker"] += 1
        if done == TOTAL // 2:
            threading.Thread(target=cluster.kill_hard).start()
            killed["cluster"] += 1

    try:
        statuses = harness.send_all(base, deliveries, threads=8, on_progress=chaos)
        cluster.kill_hard()
        # A new cluster and the sweeper (lease 4 s) bring back what the dead one held.
        cluster = harness.qcluster(work, env, name="qcluster-restarted")
        sweep = harness.sweeper(work, env, duration=90)
        acknowledged = {d.webhook_id for d, s in zip(deliveries, statuses, strict=True) if 200 <= s < 300}
        harness.wait_for(
            lambda: all(state in FINAL for wid, state in harness.event_states(private_pg, scenario_db).items() if wid in acknowledged),
            90, "every acknowledged event to end processed or dead", interval=1,
        )
    finally:
        for service in (web, cluster):
            service.stop()
        if "sweep" in locals():
            sweep.stop()
    states = harness.event_states(private_pg, scenario_db)
    runs = harness.side_effects(private_pg, scenario_db)
    dead_letters = {wid for (wid,) in private_pg.query(
        "SELECT e.webhook_id FROM deadletters_deadletter d JOIN webhooks_webhookevent e ON e.id = d.event_id", scenario_db)}
    processed = {wid for wid, s in states.items() if s == "processed"}
    dead = {wid for wid, s in states.items() if s == "dead"}
    harness.report(
        "kill-9", sent=TOTAL, acknowledged=len(acknowledged), not_answered=sum(s == 0 for s in statuses),
        stored=len(states), processed=len(processed), dead_lettered=len(dead_letters),
        side_effects_over_1=sum(n > 1 for n in runs.values()), lost=len(acknowledged - processed - dead),
        web_workers_killed=killed["web_worker"], clusters_killed=killed["cluster"],
    )
    assert killed == {"web_worker": 1, "cluster": 1}
    assert acknowledged <= set(states), "a delivery answered 2xx is not stored"
    assert acknowledged <= processed | dead
    topics = dict(private_pg.query("SELECT webhook_id, topic FROM webhooks_webhookevent", scenario_db))
    assert dead == dead_letters == {w for w in states if topics[w] == "reliability/fail"}
    # One committed handler run per processed event, none for the others.
    assert set(runs) == processed
    assert set(runs.values()) == {1}
