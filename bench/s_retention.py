"""Retention: the batched retention job against a naive QuerySet.delete() on the same data.

Data (SQL, generate_series): N expired events with one attempt each, 1 % of them dead and
pinned by an open dead letter, plus fresh events that must stay. Ingest p99 at 100 req/s
is measured first on an idle console and then while the retention job runs, both in this
run. The naive delete runs afterwards on a regenerated copy of the same data, in a child
process with a time limit (it loads every doomed row into memory).
Needs `WebhookEventQuerySet.expired(days)` and `.delete_in_batches()` (retention work).
"""

from __future__ import annotations

import subprocess
import threading
import time
from typing import Any

from bench import datagen
from bench.common import (
    PYTHON,
    ROOT,
    NotAvailable,
    Options,
    Results,
    child_env,
    gunicorn,
    reset_event_tables,
    run_loadgen,
    say,
    scalar,
)

NAME = "retention"
RATE = 100.0


def check_interface() -> None:
    from webhooks.models import WebhookEvent

    queryset = WebhookEvent.objects.all()
    missing = [name for name in ("expired", "delete_in_batches") if not callable(getattr(queryset, name, None))]
    if missing:
        raise NotAvailable(", ".join(f"WebhookEventQuerySet.{name}()" for name in missing) + " (retention job)")


def generate(opts: Options, days: int) -> dict[str, int]:
    reset_event_tables()
    pinned = opts.retention_pinned
    expired = opts.retention_events - pinned
    first, last = datagen.generate_events(expired, prefix="old-", min_age_days=days + 1, max_age_days=days + 60)
    p_first, p_last = datagen.generate_events(pinned, prefix="pinned-", status="dead", min_age_days=days + 1, max_age_days=days + 60)
    datagen.generate_dead_letters(p_first, p_last, limit=pinned)
    datagen.generate_events(max(10, opts.retention_events // 100), prefix="fresh-", max_age_days=days - 1)
    datagen.analyze()
    return {"expired": expired, "pinned": pinned}


def remaining(days: int) -> dict[str, int]:
    cutoff = f"now() - interval '{int(days)} days'"
    return {
        "expired_unpinned_left": int(scalar(f"SELECT count(*) FROM webhooks_webhookevent WHERE received_at < {cutoff} AND webhook_id LIKE 'old-%%'")),  # noqa: S608
        "pinned_left": int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE webhook_id LIKE 'pinned-%%'")),
        "fresh_left": int(scalar("SELECT count(*) FROM webhooks_webhookevent WHERE webhook_id LIKE 'fresh-%%'")),
    }


def naive_delete(opts: Options, days: int, limit_s: float) -> float | None:
    code = (
        "import django, time; django.setup()\n"
        "from datetime import timedelta\nfrom django.utils import timezone\n"
        "from webhooks.models import WebhookEvent\n"
        f"cutoff = timezone.now() - timedelta(days={int(days)})\n"
        "t0 = time.perf_counter()\n"
        "WebhookEvent.objects.filter(received_at__lt=cutoff).exclude(dead_letters__status__in=['open', 'replaying']).delete()\n"
        "print(time.perf_counter() - t0)\n"
    )
    try:
        out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, env=child_env(opts), capture_output=True, timeout=limit_s, check=True)
    except subprocess.TimeoutExpired:
        return None
    return float(out.stdout.decode().strip().splitlines()[-1])


def run(opts: Options, results: Results) -> None:
    check_interface()
    from django.conf import settings

    from webhooks.models import WebhookEvent

    days = int(settings.WEBHOOK_RETENTION_DAYS)
    made = generate(opts, days)
    say(f"    generated {made['expired']} expired events, {made['pinned']} pinned by open dead letters")
    load_seconds = 3.0 if opts.smoke else 60.0
    outcome: dict[str, Any] = {}
    with gunicorn(opts, "timedify_ops.wsgi:application", env=child_env(opts), label="console") as (port, _proc):
        run_loadgen(port, mode="rate", prefix="ret-warm", duration=1.0, rate=50)  # every worker has loaded Django
        idle = run_loadgen(port, mode="rate", prefix="ret-idle", duration=opts.seconds, rate=RATE)

        def load() -> None:
            outcome["busy"] = run_loadgen(port, mode="rate", prefix="ret-busy", duration=load_seconds, rate=RATE)

        loader = threading.Thread(target=load)
        loader.start()
        time.sleep(1.0)
        t0 = time.perf_counter()
        returned = WebhookEvent.objects.all().expired(days).delete_in_batches()  # type: ignore[attr-defined]
        job_s = time.perf_counter() - t0
        loader.join()
    left = remaining(days)
    say(f"    retention job took {job_s:.1f}s, returned {returned!r}; left: {left}")
    limit = min(900.0, max(120.0, job_s * 10))
    generate(opts, days)
    naive_s = naive_delete(opts, days, limit)
    busy = outcome["busy"]
    results.raw[NAME] = {"job_s": job_s, "naive_s": naive_s, "idle": idle, "busy": busy, "left": left, "returned": repr(returned)}
    how = f"{made['expired']} expired events + {made['pinned']} pinned, WebhookEvent.objects.expired({days}).delete_in_batches()"
    results.add(NAME, "retention job time", round(job_s, 1), "s", target="<= 60", met=job_s <= 60, how=how)
    if naive_s is None:
        results.add(NAME, "naive delete / retention job", f"> {limit / job_s:.1f}", "x", target=">= 5", met=True,
                    how=f"naive QuerySet.delete() stopped at the {limit:.0f}s limit on a regenerated copy")
    else:
        speedup = naive_s / job_s
        results.add(NAME, "naive delete / retention job", round(speedup, 1), "x", target=">= 5", met=speedup >= 5,
                    how=f"naive QuerySet.delete() took {naive_s:.1f}s on a regenerated copy of the same data")
    ratio = busy["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")
    covered = min(1.0, job_s / max(load_seconds - 1.0, 0.001))
    results.add(NAME, "ingest p99 during retention / idle", round(ratio, 2), "x", target="<= 2", met=ratio <= 2,
                how=f"{RATE:.0f} req/s open loop: idle p99 {idle['p99_ms']} ms, during the job {busy['p99_ms']} ms "
                    f"(the job ran through {covered:.0%} of the {load_seconds:.0f}s load window)")
    kept = left["pinned_left"] == made["pinned"] and left["expired_unpinned_left"] == 0
    results.add(NAME, "pinned kept, expired gone", "yes" if kept else f"no: {left}", "", target="yes", met=kept, how="counted after the job")
