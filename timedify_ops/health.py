"""Health checks shared by /health, the health_check command and the scheduled job.

`basic_health` is the cheap public part: the database answers and every migration is
applied. It never reveals secrets or internal names beyond the check names.
"""

from __future__ import annotations

import time
from typing import Any

from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone


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
    checks["migrations"] = check_migrations() if checks["database"]["ok"] else {"ok": False, "error": "skipped"}
    ok = all(c["ok"] for c in checks.values())
    return {"status": "ok" if ok else "down", "timestamp": timezone.now().isoformat(), "checks": checks}


# --- The full health check (scheduled job, health_check command, alerting) ----------------
# Each check returns {"ok": bool, ...}; `_SEVERITY` says what a failing check makes the
# whole: "down" (the console cannot do its job) or "degraded" (it can, with a problem).
_SEVERITY = {"database": "down", "migrations": "down"}


def running_cluster_stats() -> list[Any]:
    """django-q2 heartbeats of the clusters that are running. A cluster that stopped keeps
    its last heartbeat (status "Stopped") in the cache for a few seconds: not running."""
    from django_q.conf import Conf
    from django_q.status import Stat

    return [s for s in Stat.get_all() if str(s.status) != Conf.STOPPED]


def check_cluster() -> dict[str, Any]:
    """At least one qcluster reports its stats through the shared cache."""
    try:
        stats = running_cluster_stats()
    except Exception as exc:  # noqa: BLE001  (a cache or broker error means: cannot tell, so not alive)
        return {"ok": False, "error": f"cannot read cluster stats: {type(exc).__name__}", "clusters": 0}
    if not stats:
        return {"ok": False, "error": "no worker cluster is running", "clusters": 0}
    return {
        "ok": True,
        "clusters": len(stats),
        "workers": sum(len(s.workers) for s in stats),
        "status": sorted({str(s.status) for s in stats}),
    }


def check_queue() -> dict[str, Any]:
    """Depth of the broker queue and, on the ORM broker, the age of its oldest task."""
    from django.conf import settings
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    try:
        depth = int(get_broker().queue_size() or 0)
    except Exception as exc:  # noqa: BLE001  (an unreachable Redis is a failed check, not a crash)
        return {"ok": False, "error": f"broker unreachable: {type(exc).__name__}"}
    result: dict[str, Any] = {"ok": True, "depth": depth, "oldest_age_s": None}
    if Conf.ORM:
        from django_q.models import OrmQ

        # The ORM broker stamps `lock` with the enqueue time; claimed tasks carry a future lock.
        oldest = (
            OrmQ.objects.filter(key=Conf.CLUSTER_NAME, lock__lte=timezone.now())
            .order_by("lock")
            .values_list("lock", flat=True)
            .first()
        )
        if oldest:
            result["oldest_age_s"] = round((timezone.now() - oldest).total_seconds(), 1)
    problems = []
    if depth > settings.HEALTH_QUEUE_DEPTH_MAX:
        problems.append(f"queue depth {depth} > {settings.HEALTH_QUEUE_DEPTH_MAX}")
    age = result["oldest_age_s"]
    if age is not None and age > settings.HEALTH_QUEUE_AGE_MAX_SECONDS:
        problems.append(f"oldest queued task waits {age:.0f} s > {settings.HEALTH_QUEUE_AGE_MAX_SECONDS} s")
    if problems:
        result.update(ok=False, error="; ".join(problems))
    return result


def check_stuck_events() -> dict[str, Any]:
    """Events still processing well past their lease: the sweeper is not catching them."""
    from datetime import timedelta

    from django.conf import settings

    from webhooks.models import EventStatus, WebhookEvent

    limit = timezone.now() - timedelta(seconds=settings.HEALTH_STUCK_GRACE_SECONDS)
    stuck = WebhookEvent.objects.filter(status=EventStatus.PROCESSING, lease_expires_at__lt=limit).count()
    if stuck:
        return {"ok": False, "stuck": stuck, "error": f"{stuck} events stuck in processing past their lease"}
    return {"ok": True, "stuck": 0}


def check_dead_letters() -> dict[str, Any]:
    from django.conf import settings

    from deadletters.models import DeadLetter

    n = DeadLetter.objects.unresolved().count()
    if n > settings.HEALTH_DEADLETTERS_MAX:
        return {"ok": False, "open": n, "error": f"{n} open dead letters > {settings.HEALTH_DEADLETTERS_MAX}"}
    return {"ok": True, "open": n}


def check_target(url: str) -> dict[str, Any]:
    """GET one HTTP target: down when unreachable, timed out or the wrong status;
    slow (degraded) above HEALTH_TARGET_SLOW_MS."""
    import requests
    from django.conf import settings

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


def full_health(targets: dict[str, str] | None = None) -> dict[str, Any]:
    """Every check, then one verdict: {"status": "ok" | "degraded" | "down", "reasons": [str],
    "checks": {name: {"ok": bool, ...}}, "timestamp": iso}. Alerting and the dashboard read
    this shape from the latest health_check run: keep it."""
    from django.conf import settings

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
    reasons = [f"{name}: {c.get('error', 'failed')}" for name, c in checks.items() if not c["ok"]]
    levels = {severity.get(name, "degraded") for name, c in checks.items() if not c["ok"]}
    status = "down" if "down" in levels else "degraded" if levels else "ok"
    return {"status": status, "reasons": reasons, "checks": checks, "timestamp": timezone.now().isoformat()}
