"""Scale-out: two gunicorn and two qcluster processes (and two sweepers, which enqueue
events twice on purpose) on one PostgreSQL and one Redis. Every event is processed once
thanks to the claim; every due schedule fires once, not once per cluster, thanks to
django-q2's select_for_update on Schedule."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.reliability import harness

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]

SCHEDULES = 5
CREATE_SCHEDULES = f"""
from datetime import timedelta
from django.utils import timezone
from django_q.models import Schedule
for i in range({SCHEDULES}):
    Schedule.objects.create(
        name=f"scale-out-{{i}}", func="tests.reliability.sideeffect.handlers.record_schedule_run", args=repr(f"s{{i}}"),
        schedule_type=Schedule.MINUTES, minutes=5, repeats=-1, next_run=timezone.now() - timedelta(seconds=1),
    )
"""


def test_it_processes_each_event_and_fires_each_schedule_once_with_two_of_everything(private_pg, scenario_db, private_redis, work):
    env = harness.base_env(work, private_pg.url(scenario_db), private_redis.url, RELIABILITY_HANDLER_SLEEP_MS="5")
    harness.manage(env, "shell", "-c", CREATE_SCHEDULES)
    webs = [harness.gunicorn(work, env, workers=2) for _ in range(2)]
    # Started together, so that their schedulers (every ~30 s) race for the same rows.
    clusters = [harness.qcluster(work, env, name=f"qcluster-{n}") for n in (1, 2)]
    sweepers = [harness.sweeper(work, env, duration=60, interval=0.5) for _ in range(2)]
    deliveries = [harness.Delivery(webhook_id=f"scale-{uuid.uuid4()}") for _ in range(400)]
    started = time.monotonic()
    try:
        statuses = harness.send_all(webs[0][1], deliveries[::2], threads=4) + harness.send_all(webs[1][1], deliveries[1::2], threads=4)
        harness.wait_for(
            lambda: set(harness.event_states(private_pg, scenario_db).values()) == {"processed"}, 60, "events processed", interval=1,
        )
        # Past the first scheduler pass of both clusters (30 s of guard cycles each).
        harness.wait_for(lambda: time.monotonic() - started > 40, 60, "both schedulers to have run", interval=1)
    finally:
        for service in [*(w for w, _ in webs), *clusters, *sweepers]:
            service.stop()
    runs = harness.side_effects(private_pg, scenario_db)
    schedule_runs = {k: v for k, v in runs.items() if k.startswith("schedule:")}
    event_runs = {k: v for k, v in runs.items() if not k.startswith("schedule:")}
    states = harness.event_states(private_pg, scenario_db)
    successes = private_pg.query("SELECT count(*) FROM django_q_task WHERE success AND name IS NOT NULL AND func LIKE %s",
                                 scenario_db, ["%record_schedule_run"])[0][0]
    harness.report(
        "scale-out", sent=len(deliveries), acknowledged=sum(s == 200 for s in statuses), stored=len(states),
        processed=sum(s == "processed" for s in states.values()), events_run_twice=sum(n > 1 for n in event_runs.values()),
        schedules=SCHEDULES, schedule_runs=sum(schedule_runs.values()), schedule_success_rows=successes,
        lost=len({d.webhook_id for d in deliveries} - set(states)),
    )
    assert statuses == [200] * len(deliveries)
    assert set(event_runs) == set(states) and set(event_runs.values()) == {1}
    assert schedule_runs == {f"schedule:s{i}": 1 for i in range(SCHEDULES)}
    assert successes == SCHEDULES
