"""A real qcluster against the test database runs a scheduled job and records its run.

django-q2's scheduler only runs inside the cluster's sentinel loop (about every 30 s), so
the schedule is made due and the wait is bounded. The cluster gets its own process group
and SIGTERM goes to its main PID only (a signal to the whole group can hang it, #346).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule, Success

from timedify_ops.health import check_cluster
from timedify_ops.models import JobRun
from timedify_ops.schedules import setup_schedules

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@contextmanager
def running_cluster(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    """A real `qcluster` on the test database, in its own process group; stopped after."""
    # REDIS_URL passes through: the cluster must use the broker and cache this process reads.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env.update(DEBUG="1", DATABASE_URL=_database_url(), HEALTH_TARGETS="", Q_WORKERS="1")
    env["Q_CLUSTER_NAME"] = str(settings.Q_CLUSTER["name"])
    log_path = tmp_path / "qcluster.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        yield proc, log_path
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        log.close()


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_runs_a_due_schedule_in_a_real_cluster_and_records_the_run(tmp_path):
    setup_schedules()
    Schedule.objects.exclude(name="Health check").update(next_run=timezone.now() + timedelta(days=1))
    health = Schedule.objects.get(name="Health check")
    Schedule.objects.filter(pk=health.pk).update(next_run=timezone.now() - timedelta(minutes=1))

    with running_cluster(tmp_path) as (proc, log_path):
        deadline = time.monotonic() + 75  # ~30 s to the first scheduler pass, plus start-up on a busy machine
        run = None
        while time.monotonic() < deadline and proc.poll() is None:
            run = JobRun.objects.filter(task="health_check", trigger="schedule").exclude(status="running").first()
            if run:
                break
            time.sleep(0.5)
        tail = log_path.read_text(errors="replace")[-3000:]
        assert run is not None, f"no run within 75 s (cluster exit code {proc.poll()}):\n{tail}"
        assert run.schedule_id == health.pk
        # Stats are in the shared cache: the job saw its own cluster alive.
        assert run.details["checks"]["cluster"]["ok"] is True
        assert run.details["status"] == "ok"
        # With the cluster up, the command's verdict is ok too (exit 0: no SystemExit).
        out = StringIO()
        call_command("health_check", stdout=out)
        assert "health_check ok" in out.getvalue()
        health.refresh_from_db()
        assert health.next_run > timezone.now()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not Success.objects.filter(group="Health check").exists():
            time.sleep(0.2)
        assert Success.objects.get(group="Health check").result.startswith("ok: all ")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_it_sees_its_running_cluster_after_migrate_alone(tmp_path):
    """The usual deploy step, `migrate`, leaves a console that sees its worker cluster: the
    cache table the heartbeats go to is made by a migration (no createcachetable)."""
    table = str(settings.CACHES["default"].get("LOCATION", ""))
    if not settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        pytest.skip("the cache is Redis here: no cache table to make")
    with connection.schema_editor() as editor:
        editor.execute(f"DROP TABLE {connection.ops.quote_name(table)}")
    # Without it, the check names the real cause, not "no worker cluster is running".
    assert check_cluster()["error"] == (
        f"cannot see the worker clusters: the cache table {table} is missing (run manage.py migrate)"
    )
    call_command("migrate", "timedify_ops", "0005", verbosity=0)
    call_command("migrate", verbosity=0)
    assert table in connection.introspection.table_names()

    with running_cluster(tmp_path) as (proc, log_path):
        deadline, result = time.monotonic() + 60, check_cluster()
        while time.monotonic() < deadline and proc.poll() is None and not result["ok"]:
            time.sleep(0.5)
            result = check_cluster()
        tail = log_path.read_text(errors="replace")[-3000:]
        assert result["ok"] is True and result["clusters"] == 1, f"{result}\n{tail}"
