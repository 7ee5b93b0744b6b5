"""Admin at scale: changelists, detail pages and the dashboard over a large database.

Data (SQL, generate_series): N events over 14 days across 1,000 shops, and N/10 dead
events each with an open dead letter. A logged-in Django test client (superuser, DEBUG
off) requests each page `admin_requests` times after two warm-up requests; next to the
page's p50/p95 stands the raw SQL time of the same queries: the page's queries are
captured once and executed again on a cursor (median of 5), so the difference is what
Django, the admin and the templates add. Pages whose admin or URL is not on this build
are reported as missing.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from bench import datagen
from bench.common import NotAvailable, Options, Results, percentile, reset_event_tables, say, scalar

NAME = "admin"
EVENTS = "/admin/webhooks/webhookevent/"
DEADLETTERS = "/admin/deadletters/deadletter/"
DASHBOARD = "/admin/ops/dashboard/"


def pages(
    sample_event: int, sample_dead_letter: int, shop: str, webhook_id: str, sample_event_n: int = 0, sample_dead_n: int = 0,
) -> list[tuple[str, str, str]]:
    """(name, url, which admin it needs)."""
    return [
        ("events changelist, default", EVENTS, "event"),
        ("events changelist, filtered by status", f"{EVENTS}?status__exact=dead", "event"),
        ("events changelist, searched by shop", f"{EVENTS}?q={shop}", "event"),
        ("events changelist, searched by webhook id", f"{EVENTS}?q={webhook_id}", "event"),
        ("event detail", f"{EVENTS}{sample_event}/change/", "event"),
        ("dead letters changelist, default", DEADLETTERS, "deadletter"),
        ("dead letters changelist, filtered by status", f"{DEADLETTERS}?status__exact=open", "deadletter"),
        ("dead letters changelist, searched by shop", f"{DEADLETTERS}?q={shop}", "deadletter"),
        # The payload search: a key through the subject index, a field over 7 days of payloads.
        ("events changelist, searched by order name", f"{EVENTS}?q=%23{sample_event_n}", "event"),
        ("dead letters changelist, searched by customer e-mail",
         f"{DEADLETTERS}?q=customer{sample_dead_n}%40example.com", "deadletter"),
        ("events changelist, field search over 7 days", f"{EVENTS}?q=line_items.id%3A{sample_event_n}", "event"),
        ("dead letter detail", f"{DEADLETTERS}{sample_dead_letter}/change/", "deadletter"),
        ("dashboard", DASHBOARD, "dashboard"),
    ]


def sql_time(queries: list[dict[str, Any]]) -> float:
    """Median of 5 executions of the page's own SELECTs on our tables, in ms."""
    from django.db import connection

    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")
               and ("webhooks_" in q["sql"] or "deadletters_" in q["sql"])]
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        with connection.cursor() as cursor:
            for sql in selects:
                cursor.execute(sql.replace("%", "%%"))
                cursor.fetchall()
        runs.append((time.perf_counter() - t0) * 1000)
    return statistics.median(runs)


def run(opts: Options, results: Results) -> None:
    from django.contrib import admin
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from deadletters.models import DeadLetter
    from webhooks.models import WebhookEvent

    have = {"event": admin.site.is_registered(WebhookEvent), "deadletter": admin.site.is_registered(DeadLetter)}
    client = Client(HTTP_HOST="127.0.0.1")
    user, _ = get_user_model().objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client.force_login(user)
    have["dashboard"] = client.get(DASHBOARD).status_code == 200
    if not any(have.values()):
        raise NotAvailable("admin for WebhookEvent and DeadLetter, and the dashboard at /admin/ops/dashboard/")
    reset_event_tables()
    first, last = datagen.generate_events(opts.admin_events, prefix="adm-")
    d_first, d_last = datagen.generate_events(opts.admin_deadletters, prefix="admdead-", status="dead")
    datagen.generate_dead_letters(d_first, d_last, limit=opts.admin_deadletters)
    datagen.generate_subjects(first, d_last)
    datagen.analyze()
    say(f"    generated {opts.admin_events} events and {opts.admin_deadletters} open dead letters")
    sample_dl = int(scalar("SELECT max(id) FROM deadletters_deadletter"))
    mid = first + (last - first) // 2
    dead_n = int(scalar("SELECT payload->>'id' FROM webhooks_webhookevent WHERE id = "
                        "(SELECT event_id FROM deadletters_deadletter WHERE id = %s)", (sample_dl,)))
    for name, url, needs in pages(mid, sample_dl, "bench-shop-123.myshopify.com", f"adm-{mid - first}",
                                  mid - first, dead_n):
        if not have[needs]:
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
        limit = 300 if needs == "dashboard" else 200
        raw_sql = sql_time(queries)
        how = (f"GET {url}, {opts.admin_requests} requests; raw SQL of its {len(queries)} queries "
               f"{raw_sql:.1f} ms; p50 {p50:.1f} ms")
        results.add(NAME, f"{name} p95", round(p95, 1), "ms", target=f"<= {limit}", met=p95 <= limit, how=how)
