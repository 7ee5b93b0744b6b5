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
