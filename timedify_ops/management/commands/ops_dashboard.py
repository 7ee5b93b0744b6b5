"""The ops dashboard on one terminal screen.

Exit codes (for cron and CI): 0 status ok, 1 status down, 2 status degraded or unknown
(no health check has run yet). Every figure is the dashboard's (timedify_ops.stats).
"""

from __future__ import annotations

import sys
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from rich import box
from rich.table import Table
from rich.text import Text

from timedify_ops import figures, series, stats
from timedify_ops.console import STATUS_STYLE, console_for, inert, topic_colour

EXIT_CODES = {"ok": 0, "down": 1, "degraded": 2, "unknown": 2}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


class Command(BaseCommand):
    help = "Show health, recent errors, dead letters, activity, latency against the SLO and last job runs."

    def handle(self, *args: Any, **options: Any) -> None:
        console = console_for(self.stdout, **options)
        ascii_box = box.SIMPLE if console.is_terminal else box.ASCII2
        status = stats.overall_status()
        console.print(f"[{STATUS_STYLE[status['status']]}]SYSTEM HEALTH: {status['status'].upper()}[/]"
                      f"  (alert level {status['alert_level']}; health checked {status['health_checked_at'] or 'never'})")
        for reason in status["reasons"]:
            console.print(Text("  - ").append_text(inert(reason)))

        slo = figures.targets()
        window = settings.ALERT_WINDOW_MINUTES
        errors = stats.error_rate(timedelta(minutes=window))
        style = "red" if errors["error_rate"] > slo.error_rate else "green"
        console.print(f"Errors, last {window} min: [{style}]{errors['errors']} of {errors['events']} events "
                      f"({errors['error_rate'] * 100:.2f} %)[/]  SLO < {slo.error_rate * 100:g} %")

        dead = stats.dead_letters()
        topics = ", ".join(f"{r['topic']} {r['n']}" for r in dead["by_topic"][:5])
        # Stored topics are data: Text pieces, never markup.
        console.print(Text.assemble("Open dead letters: ", (str(dead["open"]), "red" if dead["open"] else "green"),
                                    inert(f"  ({topics})" if topics else "")))

        queue = stats.queue()
        clusters = stats.clusters()
        console.print(f"Queue: {queue['broker']['depth']} queued, {queue['pending_events']} events pending, "
                      f"{queue['stuck_events']} stuck; worker clusters: {len(clusters)}")

        activity = Table(title="Webhook activity, last 10 min", box=ascii_box, title_justify="left")
        for col in ("topic", "events", "errors", "pending"):
            activity.add_column(col, justify="left" if col == "topic" else "right")
        rows = stats.activity_by_topic(timedelta(minutes=10))
        for row in rows:
            activity.add_row(inert(row["topic"], topic_colour(row["topic"])), str(row["events"]),
                             str(row["errors"]), str(row["pending"]))
        if not rows:
            activity.add_row("(no deliveries)", "0", "0", "0")
        console.print(activity)

        hour = series.series(timedelta(hours=1), 300).total
        latency = Table(title="Ingest latency, last hour (synthetic excluded)", box=ascii_box, title_justify="left")
        for col in ("percentile", "value", "SLO", "met"):
            latency.add_column(col)
        for name, value, target in (("p50", hour.p50, None), ("p95", hour.p95, slo.p95_ms),
                                    ("p99", hour.p99, slo.p99_ms)):
            met = "-" if target is None or value is None else ("yes" if value <= target else "NO")
            colour = "red" if met == "NO" else "green"
            latency.add_row(name, _ms(value), _ms(target) if target else "", f"[{colour}]{met}[/]")
        console.print(latency)

        runs = Table(title="Last runs", box=ascii_box, title_justify="left")
        for col in ("job", "started", "status", "summary"):
            runs.add_column(col)
        last = stats.last_runs()
        for run in last:
            colour = {"ok": "green", "warning": "yellow", "failed": "red"}.get(run["status"], "white")
            runs.add_row(inert(run["task"]), inert(run["started_at"][:19]), inert(run["status"], colour),
                         inert(run["summary"][:70]))
        if not last:
            runs.add_row("(no runs recorded)", "", "", "")
        console.print(runs)

        code = EXIT_CODES[status["status"]]
        self.stdout.write(f"status {status['status']}: {errors['errors']} errors in {window} min, "
                          f"{dead['open']} open dead letters, {len(rows)} active topics (exit {code})")
        if code:
            sys.exit(code)
