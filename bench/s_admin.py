"""Admin at scale: every page a support person opens, over a large database.

Data (SQL, generate_series): N events over 14 days across 1,000 shops, and N/10 dead
events each with an open dead letter, their subject-index rows, 30 days of scheduled job
runs, 200 finished replay batches (1 to 10,000 dead letters each), 20 forward
destinations, and the console's own schedules. A dataset of the same sizes seeded by an earlier run (under a day old) is
reused: the deliveries and job runs of the time since are added at the seeded rate, so
the windows that end now (last hour, 24 hours, 7 days) hold what they held at seeding.
The tables are vacuumed after seeding, as autovacuum would have (the visibility map lets
index-only scans skip the heap), whether or not autovacuum runs on the bench's server.

A logged-in Django test client (superuser, DEBUG off) requests each page `admin_requests`
times after two warm-up requests; next to the page's p50/p95 stands the raw SQL time of
the same queries: the page's queries are captured once and executed again on a cursor
(median of 5), so the difference is what Django, the admin and the templates add. With
--admin-profile the requests of each page run under cProfile, and the top entries are
printed and written beside the results. Pages whose admin or URL is not on this build are
reported as missing.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import datagen
from bench.common import NotAvailable, Options, Results, execute, percentile, reset_event_tables, say, scalar

NAME = "admin"
EVENTS = "/admin/webhooks/webhookevent/"
DEADLETTERS = "/admin/deadletters/deadletter/"
DASHBOARD = "/admin/ops/dashboard/"
SPAN_DAYS = 14.0  # the events' age spread (the default retention)
JOB_RUN_DAYS = 30.0  # JOBRUN_RETENTION_DAYS
REPLAY_BATCHES = 200
DESTINATIONS = 20
REUSE_FOR = timedelta(days=1)
SEED_TABLE = "bench_admin_seed"
TARGET_MS, DASHBOARD_TARGET_MS = 150, 200


@dataclass(frozen=True)
class Samples:
    event: int  # an event in the middle of the id range
    webhook_id: str
    order: str  # its payload id: the order name and id the subject index holds
    recent_order: str  # the payload id of an event 3.5 days old: inside the field search's 7 days
    dead_letter: int  # the newest dead letter
    dead_order: str  # its event's payload id
    shop: str = "bench-shop-123.myshopify.com"


def pages(s: Samples) -> list[tuple[str, str, str]]:
    """(name, url, what it needs: a model's admin, or "dashboard")."""
    return [
        ("admin index", "/admin/", "index"),
        ("events changelist, default", EVENTS, "webhookevent"),
        ("events changelist, filtered by status", f"{EVENTS}?status__exact=dead", "webhookevent"),
        ("events changelist, searched by shop", f"{EVENTS}?q={s.shop}", "webhookevent"),
        ("events changelist, searched by webhook id", f"{EVENTS}?q={s.webhook_id}", "webhookevent"),
        # The payload search: a key through the subject index, a field over 7 days of payloads.
        ("events changelist, searched by order name", f"{EVENTS}?q=%23{s.order}", "webhookevent"),
        ("events changelist, searched by customer e-mail", f"{EVENTS}?q=customer{s.order}%40example.com", "webhookevent"),
        ("events changelist, field search over 7 days", f"{EVENTS}?q=line_items.id%3A{s.recent_order}", "webhookevent"),
        ("event detail", f"{EVENTS}{s.event}/change/", "webhookevent"),
        ("dead letters changelist, default", DEADLETTERS, "deadletter"),
        ("dead letters changelist, filtered by status", f"{DEADLETTERS}?status=all", "deadletter"),
        ("dead letters changelist, filtered by topic", f"{DEADLETTERS}?topic=orders%2Fcreate", "deadletter"),
        ("dead letters changelist, searched by shop", f"{DEADLETTERS}?q={s.shop}", "deadletter"),
        ("dead letters changelist, searched by order name", f"{DEADLETTERS}?q=%23{s.dead_order}", "deadletter"),
        ("dead letters changelist, searched by customer e-mail",
         f"{DEADLETTERS}?q=customer{s.dead_order}%40example.com", "deadletter"),
        ("dead letter detail", f"{DEADLETTERS}{s.dead_letter}/change/", "deadletter"),
        ("dashboard", DASHBOARD, "dashboard"),
        ("job runs", "/admin/timedify_ops/jobrun/", "jobrun"),
        ("replay batches", "/admin/deadletters/replaybatch/", "replaybatch"),
        ("breakers: forward destinations", "/admin/webhooks/forwarddestination/", "forwarddestination"),
        ("breakers: topics", "/admin/webhooks/topicbreaker/", "topicbreaker"),
    ]


# --- the dataset --------------------------------------------------------------------------


def seed(opts: Options) -> None:
    """Reuse the dataset an earlier run left when its sizes match, else generate it. The
    console's schedules exist as `make run` creates them (their rows are on the dashboard)."""
    from django.db import transaction

    from timedify_ops.schedules import setup_schedules

    with transaction.atomic():
        setup_schedules()
    state = _seed_state(opts)
    if state is None:
        _generate(opts)
        return
    gap = float(scalar(f"SELECT extract(epoch FROM now() - topped_at) FROM {SEED_TABLE}"))  # noqa: S608
    _top_up(opts, state, gap)
    say(f"    reused the seeded dataset, {gap / 60:.0f} min of deliveries and job runs added")


def _seed_state(opts: Options) -> tuple[int, int] | None:
    """(events, dead events) generated so far, when the dataset can be reused."""
    if not scalar(f"SELECT to_regclass('{SEED_TABLE}') IS NOT NULL"):
        return None
    row = _row(f"SELECT events, deadletters, adm_next, dead_next, now() - topped_at < %s FROM {SEED_TABLE}",  # noqa: S608
               (REUSE_FOR,))
    if not row or (row[0], row[1]) != (opts.admin_events, opts.admin_deadletters) or not row[4]:
        return None
    # Another scenario may have emptied the tables since: the counts must still match.
    if (scalar("SELECT count(*) FROM webhooks_webhookevent") != row[2] + row[3]
            or scalar("SELECT count(*) FROM deadletters_deadletter") != row[3]):
        return None
    return int(row[2]), int(row[3])


def _row(sql: str, params: tuple[Any, ...]) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _generate(opts: Options) -> None:
    t0 = time.perf_counter()
    reset_event_tables()
    execute("TRUNCATE timedify_ops_jobrun, timedify_ops_traffichour, deadletters_replaybatch, "
            "webhooks_forwarddestination, webhooks_topicbreaker RESTART IDENTITY CASCADE")
    first, _ = datagen.generate_events(opts.admin_events, prefix="adm-", max_age_days=SPAN_DAYS)
    d_first, d_last = datagen.generate_events(opts.admin_deadletters, prefix="admdead-", status="dead",
                                              max_age_days=SPAN_DAYS)
    datagen.generate_dead_letters(d_first, d_last, limit=opts.admin_deadletters)
    datagen.generate_subjects(first, d_last)
    datagen.generate_shops(datagen.SHOPS)
    runs = datagen.generate_job_runs(JOB_RUN_DAYS if not opts.smoke else 1.0)
    batches = REPLAY_BATCHES if not opts.smoke else 10
    datagen.generate_replay_batches(batches, int(scalar("SELECT min(id) FROM deadletters_deadletter")))
    datagen.generate_breakers(DESTINATIONS, datagen.TOPICS)
    datagen.vacuum_analyze()
    execute(f"DROP TABLE IF EXISTS {SEED_TABLE}")
    execute(f"CREATE TABLE {SEED_TABLE} AS SELECT %s::bigint AS events, %s::bigint AS deadletters, "  # noqa: S608
            "%s::bigint AS adm_next, %s::bigint AS dead_next, now() AS seeded_at, now() AS topped_at",
            (opts.admin_events, opts.admin_deadletters, opts.admin_events, opts.admin_deadletters))
    say(f"    generated {opts.admin_events} events, {opts.admin_deadletters} open dead letters, {runs} job runs, "
        f"{batches} replay batches in {time.perf_counter() - t0:.0f} s")


def _top_up(opts: Options, state: tuple[int, int], gap_seconds: float) -> None:
    """The deliveries (with dead letters and subjects) and job runs of the last
    `gap_seconds`, at the seeded rate, so the newest data is as fresh as at seeding."""
    adm_next, dead_next = state
    gap_days = gap_seconds / 86400
    more, more_dead = round(opts.admin_events * gap_days / SPAN_DAYS), round(opts.admin_deadletters * gap_days / SPAN_DAYS)
    if more:
        first, last = datagen.generate_events(more, prefix="adm-", start=adm_next, max_age_days=gap_days)
        datagen.generate_subjects(first, last)
    if more_dead:
        first, last = datagen.generate_events(more_dead, prefix="admdead-", start=dead_next, status="dead",
                                              max_age_days=gap_days)
        datagen.generate_dead_letters(first, last, limit=more_dead)
        datagen.generate_subjects(first, last)
    if gap_seconds >= 60:
        datagen.generate_job_runs(gap_days)
    execute(f"UPDATE {SEED_TABLE} SET adm_next = adm_next + %s, dead_next = dead_next + %s, topped_at = now()",  # noqa: S608
            (more, more_dead))
    datagen.vacuum_analyze()


def samples(opts: Options) -> Samples:
    middle = f"adm-{opts.admin_events // 2}"
    event, order = _row("SELECT id, payload->>'id' FROM webhooks_webhookevent WHERE webhook_id = %s", (middle,))
    (recent_order,) = _row("SELECT payload->>'id' FROM webhooks_webhookevent WHERE webhook_id = %s",
                           (f"adm-{opts.admin_events * 3 // 4}",))
    dead_letter, dead_order = _row(
        "SELECT d.id, e.payload->>'id' FROM deadletters_deadletter d JOIN webhooks_webhookevent e ON e.id = d.event_id "
        "ORDER BY d.id DESC LIMIT 1", (),
    )
    return Samples(event=event, webhook_id=middle, order=order, recent_order=recent_order, dead_letter=dead_letter,
                   dead_order=dead_order)


# --- the measurement ----------------------------------------------------------------------


def sql_time(queries: list[dict[str, Any]]) -> float:
    """Median of 5 executions of the page's own SELECTs on our tables, in ms."""
    from django.db import connection

    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(("SELECT", "WITH"))
               and ("webhooks_" in q["sql"] or "deadletters_" in q["sql"] or "timedify_ops_" in q["sql"])]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in selects:
                cursor.execute(sql.replace("%", "%%"))
                cursor.fetchall()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def available(client: Any) -> dict[str, bool]:
    from django.apps import apps
    from django.contrib import admin

    have = {"index": True, "dashboard": client.get(DASHBOARD).status_code == 200}
    for model in apps.get_models(include_auto_created=False):
        have[str(model._meta.model_name)] = admin.site.is_registered(model)
    return have


def profile(client: Any, url: str, requests: int, out: Path, name: str) -> str:
    """The page's requests under cProfile: the top entries by own time, saved and returned."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(url)
    profiler.disable()
    out.mkdir(parents=True, exist_ok=True)
    profiler.dump_stats(out / f"{name.replace(' ', '_').replace(',', '').replace(':', '')}.prof")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    return text.getvalue()


def run(opts: Options, results: Results) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    datagen.require_postgresql()
    client = Client(HTTP_HOST="127.0.0.1")
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client.force_login(user)
    have = available(client)
    if not (have.get("webhookevent") or have.get("deadletter") or have["dashboard"]):
        raise NotAvailable("admin for WebhookEvent and DeadLetter, and the dashboard at /admin/ops/dashboard/")
    seed(opts)
    for name, url, needs in pages(samples(opts)):
        if not have.get(needs):
            results.add(NAME, name, "not available on this build", how=f"missing: {needs} admin/page")
            continue
        for _ in range(2):
            client.get(url)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        # Copied now: the next request's request_started signal clears the query log.
        queries = list(captured.captured_queries)
        if response.status_code != 200:
            results.add(NAME, name, f"HTTP {response.status_code}", how=f"GET {url} (a filter this admin does not offer?)")
            continue
        timings = []
        for _ in range(opts.admin_requests):
            t0 = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - t0) * 1000)
        p50, p95 = percentile(timings, 50), percentile(timings, 95)
        limit = DASHBOARD_TARGET_MS if needs == "dashboard" else TARGET_MS
        raw_sql = sql_time(queries)
        how = (f"GET {url}, {opts.admin_requests} requests; raw SQL of its {len(queries)} queries "
               f"{raw_sql:.1f} ms; p50 {p50:.1f} ms")
        results.add(NAME, f"{name} p95", round(p95, 1), "ms", target=f"<= {limit}", met=p95 <= limit, how=how)
        if opts.admin_profile:
            say(profile(client, url, opts.admin_requests, Path(opts.admin_profile), name))
