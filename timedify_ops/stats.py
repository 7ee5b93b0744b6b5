"""Every figure the dashboard, the metrics endpoints and ops_dashboard show, in one place.

Each function runs a small number of indexed queries and returns plain data (dicts, lists,
numbers), so the HTML page, the JSON, the Prometheus text and the terminal all read the
same figures. Traffic over time lives in `series`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.db.models import Count, IntegerField, Q, Value
from django.utils import timezone
from django_q.models import Schedule, Task
from redis.exceptions import RedisError

from timedify_ops import counters, figures, series
from timedify_ops.jobtypes import job_name
from timedify_ops.models import JobRun
from webhooks.models import EventStatus, ForwardDestination

STARTED_AT = time.time()
# A health run older than this no longer tells us how things are now.
HEALTH_STALE_AFTER = timedelta(minutes=15)
RANK = {"ok": 0, "unknown": 0.5, "degraded": 1, "down": 2}


T = TypeVar("T")


def _safely(func: Callable[[], T], default: T) -> T:
    """Run a read that may hit a missing table or an unreachable Redis, inside a savepoint
    so a failure does not poison the surrounding transaction on PostgreSQL."""
    try:
        with transaction.atomic():
            return func()
    except (DatabaseError, OSError, RedisError):
        return default


def uptime_seconds() -> float:
    return round(time.time() - STARTED_AT, 1)


def _latest(task: str) -> JobRun | None:
    # Index ops_jobrun_task_started.
    return JobRun.objects.filter(task=task).exclude(status="running").order_by("-started_at").first()


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _alert_findings(details: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerting run's findings; a run recorded before findings existed gives its reasons."""
    if "findings" in details:
        return list(details["findings"])
    level = int(details.get("level") or 1)
    return [
        {"level": level, "text": str(r), "area": "health" if str(r).startswith("health ") else "system"}
        for r in details.get("reasons") or []
    ]


def overall_status(now: Any = None) -> dict[str, Any]:
    """The system's status (is the pipeline working) from the latest health and alerting
    runs, apart from the support backlog (work waiting for people).

    "unknown" until the first health check has run; a health run older than
    HEALTH_STALE_AFTER makes it at least "degraded" (the checks have stopped running).
    Alert level 3 for a system reason is "down", level 2 "degraded"; health's own reasons
    are listed once, and backlog reasons (open dead letters) go to `backlog`."""
    now = now or timezone.now()
    status = "unknown"
    reasons: list[str] = []
    backlog: list[str] = []
    health = _latest("health_check")
    if health is None:
        reasons.append("no health check has run yet")
    else:
        details = health.details or {}
        reported = details.get("status")
        status = reported if isinstance(reported, str) and reported in RANK else "down"
        if health.status == "failed" and health.traceback:
            status = "down"
            reasons.append(f"the health check itself failed: {health.summary}")
        reasons.extend(str(r) for r in details.get("reasons") or [])
        backlog.extend(str(r) for r in details.get("backlog") or [])
        if now - health.started_at > HEALTH_STALE_AFTER:
            minutes = int((now - health.started_at).total_seconds() // 60)
            reasons.append(f"the last health check is {minutes} min old")
            status = max(status, "degraded", key=RANK.__getitem__)
    alerting = _latest("alerting_check")
    level = 1
    if alerting is not None:
        details = alerting.details or {}
        level = int(details.get("level") or 1)
        for finding in _alert_findings(details):
            if finding["area"] == "backlog":
                backlog.append(finding["text"])
            elif finding["area"] == "system":
                reasons.append(finding["text"])
                alert_status = "down" if finding["level"] >= 3 else "degraded"
                status = max(status, alert_status, key=RANK.__getitem__)
    return {
        "status": status,
        "reasons": _unique(reasons),
        "backlog": _unique(backlog),
        "alert_level": level,
        "health_checked_at": health.started_at.isoformat() if health else None,
        "alerting_checked_at": alerting.started_at.isoformat() if alerting else None,
    }


def events_by_status(window: timedelta) -> dict[str, int]:
    """Real events (figures.real_events) received in the window, by their status now."""
    # Index webhooks_event_received (range), grouped in the database.
    rows = figures.real_events(timezone.now() - window).values("status").annotate(n=Count("id"))
    counts = {s: 0 for s in EventStatus.values}
    counts.update({r["status"]: r["n"] for r in rows})
    return counts


def error_rate(window: timedelta) -> dict[str, Any]:
    """figures.errors over `window`, as plain data."""
    e = figures.errors(window)
    return {"events": e.events, "errors": e.errors, "error_rate": e.rate}


def activity_by_topic(window: timedelta) -> list[dict[str, Any]]:
    rows = (
        figures.real_events(timezone.now() - window)
        .values("topic")
        .annotate(
            events=Count("id"),
            errors=Count("id", filter=Q(status__in=figures.ERROR_STATUSES)),
            pending=Count("id", filter=Q(status__in=[EventStatus.RECEIVED, EventStatus.PROCESSING])),
        )
        .order_by("-events", "topic")
    )
    return list(rows)


def queue() -> dict[str, Any]:
    """The broker's queue (figures.queue_state) and our own backlog: events stored but not
    finished, the oldest one waiting, and stuck events (figures.stuck_events)."""
    return {"broker": figures.queue_state(), **figures.pending_events(), "stuck_events": figures.stuck_events()}


def clusters() -> list[dict[str, Any]]:
    """The running clusters' django-q2 heartbeats (kept in the shared cache)."""
    # A cache that cannot be read means we cannot see any cluster (health says why).
    stats: list[Any] = _safely(figures.running_clusters, [])
    return [
        {
            "cluster_id": str(s.cluster_id),
            "host": s.host,
            "status": str(s.status),
            "workers": len(s.workers),
            "task_queue": s.task_q_size,
            "uptime_s": round(s.uptime(), 1) if hasattr(s, "uptime") else None,
            "seen_at": s.timestamp.isoformat() if s.timestamp else None,
        }
        for s in stats
    ]


def dead_letters() -> dict[str, Any]:
    """Unresolved dead letters (open or being replayed: the definition alerting and health
    use) by topic and by error group (figures.dead_letter_backlog)."""
    backlog = figures.dead_letter_backlog(top=20)
    groups = [
        {**g, "n": g["count"], "first": g["first_seen"], "message": (g["message"] or "")[:200]}
        for g in backlog.groups
    ]
    return {"open": backlog.open, "by_topic": backlog.by_topic, "groups": groups}


def breakers() -> list[dict[str, Any]]:
    return [
        {
            "id": d.pk,
            "name": d.name,
            "url": d.url,
            "state": d.state,
            "paused": d.paused,
            "consecutive_failures": d.consecutive_failures,
            "opened_at": d.opened_at.isoformat() if d.opened_at else None,
            "last_error": d.last_error,
        }
        for d in ForwardDestination.objects.order_by("name")
    ]


def schedules() -> list[dict[str, Any]]:
    """Every django-q2 schedule with its next run and its last run: our JobRun when the job
    records one, else django-q2's own task result."""
    rows = []
    every = list(Schedule.objects.order_by("next_run", "name"))
    latest = _last_runs(every)
    for s in every:
        last = latest.get(s.pk)
        row: dict[str, Any] = {
            "id": s.pk,
            "name": s.name or s.func,
            "func": s.func,
            "next_run": s.next_run.isoformat() if s.next_run else None,
            "next_run_at": s.next_run,
            "last_run": None,
            "last_run_at": None,
            "last_status": None,
            "last_summary": "",
        }
        if last is not None:
            row.update(
                last_run=last.started_at.isoformat(), last_run_at=last.started_at,
                last_status=last.status, last_summary=last.summary,
            )
        elif s.task:
            task = Task.objects.filter(id=s.task).values("started", "success", "result").first()
            if task:
                row.update(
                    last_run=task["started"].isoformat(),
                    last_run_at=task["started"],
                    last_status="ok" if task["success"] else "failed",
                    last_summary=str(task["result"] or "")[:200],
                )
        rows.append(row)
    return rows


def _last_runs(every: list[Schedule]) -> dict[int, JobRun]:
    """Each schedule's latest finished run, however it was started (schedule, run now,
    command): by the job's name when it runs one of ours, else by the schedule. On
    PostgreSQL one statement (a UNION ALL of the per-schedule look-ups, each an index
    probe) instead of one round trip per schedule."""
    finished = {
        s.pk: ((JobRun.objects.filter(task=job) if (job := job_name(s)) else s.job_runs.all())
               .exclude(status="running").order_by("-started_at"))
        for s in every
    }
    if len(finished) < 2 or not connection.features.supports_slicing_ordering_in_compound:
        return {pk: run for pk, runs in finished.items() if (run := runs.first()) is not None}
    first, *others = [runs.annotate(for_schedule=Value(pk, IntegerField()))[:1] for pk, runs in finished.items()]
    return {run.for_schedule: run for run in first.union(*others, all=True)}


def last_runs() -> list[dict[str, Any]]:
    """The latest run of every job we have a record of, newest first."""
    tasks = JobRun.objects.values_list("task", flat=True).distinct()
    runs = [r for r in (JobRun.objects.filter(task=t).order_by("-started_at").first() for t in tasks) if r]
    runs.sort(key=lambda r: r.started_at, reverse=True)
    return [
        {
            "task": r.task,
            "started_at": r.started_at.isoformat(),
            "status": r.status,
            "duration_ms": r.duration_ms,
            "summary": r.summary,
        }
        for r in runs
    ]


def slo(days: int) -> dict[str, Any]:
    """SLO compliance over the last `days`, hourly buckets, with `computed_at`: cached for
    OPS_SLO_CACHE_SECONDS (over 30 days this is the heaviest read and it changes slowly),
    so a reader shows when the figures were computed."""
    key = f"timedify:slo:{days}:{connection.vendor}"
    cached = _safely(lambda: cache.get(key), None)
    if cached is not None:
        return dict(cached)
    result: dict[str, Any] = series.series(timedelta(days=days), 3600).compliance()
    result.update(days=days, computed_at=timezone.now().isoformat())
    if settings.OPS_SLO_CACHE_SECONDS:
        _safely(lambda: cache.set(key, result, settings.OPS_SLO_CACHE_SECONDS), None)
    return result


def database() -> dict[str, Any]:
    """Connections, waiting locks and the slowest statements, on PostgreSQL only."""
    if connection.vendor != "postgresql":
        return {"available": False, "vendor": connection.vendor}
    out: dict[str, Any] = {"available": True, "vendor": "postgresql"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(state, 'unknown'), count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() GROUP BY 1 ORDER BY 2 DESC"
        )
        out["connections"] = {state: n for state, n in cursor.fetchall()}
        cursor.execute(
            "SELECT l.locktype, l.mode, l.pid, coalesce(a.query, ''), "
            "extract(epoch FROM now() - a.query_start) FROM pg_locks l "
            "LEFT JOIN pg_stat_activity a ON a.pid = l.pid WHERE NOT l.granted ORDER BY 5 DESC NULLS LAST LIMIT 20"
        )
        out["waiting_locks"] = [
            {"locktype": t, "mode": m, "pid": pid, "query": q[:200], "waiting_s": round(float(w or 0), 1)}
            for t, m, pid, q, w in cursor.fetchall()
        ]
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")
        out["pg_stat_statements"] = cursor.fetchone() is not None
        out["slow_queries"] = []
    if out["pg_stat_statements"]:
        # Installed but not in shared_preload_libraries: reading the view raises.
        slow = _safely(_slow_queries, None)
        out["pg_stat_statements"] = slow is not None
        out["slow_queries"] = slow or []
    return out


def _slow_queries() -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query, calls, mean_exec_time, total_exec_time FROM pg_stat_statements "
            "ORDER BY mean_exec_time DESC LIMIT 10"
        )
        return [
            {"query": q[:300], "calls": c, "mean_ms": round(m, 2), "total_ms": round(t, 1)}
            for q, c, m, t in cursor.fetchall()
        ]


def snapshot() -> dict[str, Any]:
    """What /api/metrics returns (and /metrics turns into series): the figures computed
    now, the SLO ones with their computation time, and the lifetime counters."""
    alert_window = timedelta(minutes=settings.ALERT_WINDOW_MINUTES)
    latency = figures.latency(alert_window)
    t = figures.targets()
    return {
        "uptime_s": uptime_seconds(),
        "status": overall_status(),
        "events": {
            "last_5m": events_by_status(timedelta(minutes=5)),
            "last_24h": events_by_status(timedelta(hours=24)),
        },
        "errors": {
            f"last_{settings.ALERT_WINDOW_MINUTES}m": error_rate(alert_window),
            "last_24h": error_rate(timedelta(hours=24)),
        },
        "latency": {
            f"last_{settings.ALERT_WINDOW_MINUTES}m": {
                "p95_ms": figures.percentile(latency, 0.95), "p99_ms": figures.percentile(latency, 0.99),
            },
        },
        "dead_letters": dead_letters(),
        "queue": queue(),
        "clusters": clusters(),
        "slo": {
            "targets": {"p95_ms": t.p95_ms, "p99_ms": t.p99_ms, "error_rate": t.error_rate},
            "last_7d": slo(7),
            "last_30d": slo(30),
        },
        "breakers": breakers(),
        "schedules": schedules(),
        "counters": counters.totals(),
    }
