"""Health checks shared by /health, the health_check command and the scheduled job.

`basic_health` is the cheap public part: the database answers and every migration is
applied. It never reveals secrets or internal names beyond the check names.
"""

from __future__ import annotations

import time
from typing import Any

import requests
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from timedify_ops import figures


def check_database() -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return {"ok": False, "error": f"database unreachable: {type(exc).__name__}"}
    return {"ok": True, "latency_ms": round((time.perf_counter() - t0) * 1000, 2)}


def check_migrations() -> dict[str, Any]:
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        return {"ok": False, "error": f"cannot read migrations: {type(exc).__name__}"}
    if plan:
        return {"ok": False, "error": f"{len(plan)} migration(s) not applied", "pending": len(plan)}
    return {"ok": True}


def basic_health() -> dict[str, Any]:
    checks = {"database": check_database()}
    skipped = {"ok": False, "skipped": True, "error": "not checked without a database"}
    checks["migrations"] = check_migrations() if checks["database"]["ok"] else skipped
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "down", "timestamp": timezone.now().isoformat(), "checks": checks}


# --- The full health check (scheduled job, health_check command, alerting) ----------------
# Each check returns {"ok": bool, ...} and, when not ok, an "error" in words. `_SEVERITY`
# says what a failing check makes the whole: "down" (the console cannot do its job),
# "degraded" (it can, with a problem) or "backlog" (work waiting for people, not a fault of
# the pipeline: shown and alerted on, but it never changes the system's status).
_SEVERITY = {"database": "down", "migrations": "down", "dead_letters": "backlog"}


def check_cluster() -> dict[str, Any]:
    """At least one qcluster reports its heartbeat through the shared cache."""
    missing = figures.cache_table_missing()
    if missing:
        # The clusters cannot store a heartbeat: say so rather than "no cluster is running".
        return {
            "ok": False, "clusters": 0,
            "error": f"cannot see the worker clusters: the cache table {missing} is missing (run manage.py migrate)",
        }
    try:
        stats = figures.running_clusters()
    except Exception as exc:  # noqa: BLE001  (a cache or broker error means: cannot tell, so not alive)
        return {"ok": False, "error": f"cannot read the clusters' heartbeats: {type(exc).__name__}", "clusters": 0}
    if not stats:
        return {"ok": False, "error": "no worker cluster is running", "clusters": 0}
    return {
        "ok": True,
        "clusters": len(stats),
        "workers": sum(len(s.workers) for s in stats),
        "status": sorted({str(s.status) for s in stats}),
    }


def check_queue() -> dict[str, Any]:
    """Depth of the configured broker's queue and, on the ORM broker, its oldest task's age."""
    state = figures.queue_state()
    if state["error"]:
        return {"ok": False, "error": state["error"], "kind": state["kind"]}
    result: dict[str, Any] = {"ok": True, **{k: v for k, v in state.items() if k != "error"}}
    problems = []
    depth, age = state["depth"], state["oldest_age_s"]
    if depth > settings.HEALTH_QUEUE_DEPTH_MAX:
        problems.append(f"queue depth {depth} > {settings.HEALTH_QUEUE_DEPTH_MAX}")
    if age is not None and age > settings.HEALTH_QUEUE_AGE_MAX_SECONDS:
        problems.append(f"oldest queued task waits {age:.0f} s > {settings.HEALTH_QUEUE_AGE_MAX_SECONDS} s")
    if problems:
        result.update(ok=False, error="; ".join(problems))
    return result


def check_stuck_events() -> dict[str, Any]:
    """Events the sweeper should have taken back and has not (figures.stuck_events)."""
    stuck = figures.stuck_events()
    if stuck:
        return {"ok": False, "stuck": stuck, "error": f"{stuck} events stuck in processing past their lease"}
    return {"ok": True, "stuck": 0}


def check_dead_letters() -> dict[str, Any]:
    """The support backlog: open dead letters against ALERT_DEADLETTERS_MAX (the runbook's
    one threshold, which alerting uses too)."""
    n = figures.open_dead_letters()
    if n > settings.ALERT_DEADLETTERS_MAX:
        return {"ok": False, "open": n, "error": f"{n} open dead letters > {settings.ALERT_DEADLETTERS_MAX}"}
    return {"ok": True, "open": n}


def check_target(url: str) -> dict[str, Any]:
    """GET one HTTP target: down when unreachable, timed out or the wrong status;
    slow (degraded) above HEALTH_TARGET_SLOW_MS."""
    expected = settings.HEALTH_TARGET_EXPECTED_STATUS
    t0 = time.perf_counter()
    try:
        response = requests.get(url, timeout=settings.HEALTH_TARGET_TIMEOUT, allow_redirects=False)
    except requests.Timeout:
        return {"ok": False, "url": url, "error": f"timed out after {settings.HEALTH_TARGET_TIMEOUT:g} s"}
    except requests.RequestException as exc:
        return {"ok": False, "url": url, "error": f"unreachable: {type(exc).__name__}"}
    latency = round((time.perf_counter() - t0) * 1000, 1)
    result: dict[str, Any] = {"ok": True, "url": url, "status_code": response.status_code, "latency_ms": latency}
    if response.status_code != expected:
        result.update(ok=False, error=f"answered {response.status_code}, expected {expected}")
    elif latency > settings.HEALTH_TARGET_SLOW_MS:
        result.update(ok=False, slow=True, error=f"slow: {latency:.0f} ms > {settings.HEALTH_TARGET_SLOW_MS} ms")
    return result


def _reason(name: str, check: dict[str, Any]) -> str:
    """A failing check in words: its own message, a target named as such."""
    error = str(check.get("error", "failed"))
    return f"target {name.removeprefix('target:')}: {error}" if name.startswith("target:") else error


def full_health(targets: dict[str, str] | None = None) -> dict[str, Any]:
    """Every check, then one verdict: {"status": "ok" | "degraded" | "down", "reasons": [str],
    "backlog": [str], "checks": {name: {"ok": bool, ...}}, "timestamp": iso}. `reasons` are
    the pipeline's faults, `backlog` the work waiting for people. Alerting and the dashboard
    read this shape from the latest health_check run: keep it."""
    checks: dict[str, dict[str, Any]] = {}
    severity = dict(_SEVERITY)
    base = basic_health()
    checks.update(base["checks"])
    if checks["database"]["ok"]:
        checks["cluster"] = check_cluster()
        checks["queue"] = check_queue()
        checks["stuck_events"] = check_stuck_events()
        checks["dead_letters"] = check_dead_letters()
    # HEALTH_TARGETS is read and validated once, in settings (timedify_ops.env.envpairs).
    for name, url in (settings.HEALTH_TARGETS if targets is None else targets).items():
        key = f"target:{name}"
        checks[key] = check_target(url)
        # An unreachable or wrong target is an outage of what we watch; a slow one is not.
        severity[key] = "degraded" if checks[key].get("slow") else "down"
    # A check skipped for want of the database is no reason of its own.
    failing = {name: severity.get(name, "degraded") for name, c in checks.items() if not (c["ok"] or c.get("skipped"))}
    reasons = [_reason(name, checks[name]) for name, level in failing.items() if level != "backlog"]
    backlog = [_reason(name, checks[name]) for name, level in failing.items() if level == "backlog"]
    levels = set(failing.values())
    status = "down" if "down" in levels else "degraded" if levels - {"backlog"} else "ok"
    return {
        "status": status, "reasons": reasons, "backlog": backlog, "checks": checks,
        "timestamp": timezone.now().isoformat(),
    }
