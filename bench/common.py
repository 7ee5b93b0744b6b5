"""What every scenario shares: the run's options, the results, processes and the database."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SHOPIFY_SECRET = "bench-shopify-secret"  # noqa: S105 - a throwaway secret of the bench run
SECRET_KEY = "bench-secret-key-not-for-production-0123456789abcdefghijklmnop"  # noqa: S105
# Production settings refuse to start without a key for the shops' offline tokens.
TOKEN_ENCRYPTION_KEY = Fernet.generate_key().decode()


BENCH_QUEUE = "timedify-bench"  # the django-q2 queue of the bench's servers and clusters


def purge_redis_queue(redis_url: str) -> None:
    """Drop tasks an earlier phase left in the bench's Redis queue (its events are gone)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        client.delete(BENCH_QUEUE)
    finally:
        client.close()


class NotAvailable(Exception):
    """The build lacks what a scenario needs; the message names what is missing."""


@dataclass
class Options:
    database_url: str
    redis_url: str
    smoke: bool
    web_workers: int
    seconds: float  # length of each ingest load phase
    processing_seconds: float
    processing_rate: float
    memory_events: int
    replay_items: int
    retention_events: int
    retention_pinned: int
    admin_events: int
    admin_deadletters: int
    admin_requests: int
    rounds: int
    privacy_events: int
    redrive_items: int = 2000
    redrive_rate: float = 50.0
    redrive_pauses: int = 20
    admin_profile: str = ""  # a directory: profile each admin page's requests there


@dataclass
class Figure:
    scenario: str
    measure: str
    value: float | str | None
    unit: str = ""
    target: str = ""
    met: bool | None = None
    how: str = ""


@dataclass
class Results:
    started_at: str
    machine: str
    options: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)  # scenario -> the run that measured it

    def options_line(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.options.items() if k not in ("database_url", "redis_url"))

    def add(self, scenario: str, measure: str, value: float | str | None, unit: str = "", *,
            target: str = "", met: bool | None = None, how: str = "") -> None:
        self.figures.append(Figure(scenario, measure, value, unit, target, met, how))
        shown = f"{value:.3g}" if isinstance(value, float) else value
        verdict = "" if met is None else ("  [target met]" if met else "  [TARGET MISSED]")
        say(f"  {measure}: {shown} {unit}{verdict}  ({how})" if how else f"  {measure}: {shown} {unit}{verdict}")


def say(message: str) -> None:
    print(message, flush=True)


def percentile(values: list[float], pct: float) -> float:
    from bench.loadgen import percentile as _percentile

    return _percentile(values, pct)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(opts: Options, **extra: str) -> dict[str, str]:
    """The environment of every server and worker: production settings, bench database."""
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "REDIS_URL", "PYTHONPATH")}
    env.update(
        DJANGO_SETTINGS_MODULE="timedify_ops.settings",
        DEBUG="0",
        SECRET_KEY=SECRET_KEY,
        TOKEN_ENCRYPTION_KEY=TOKEN_ENCRYPTION_KEY,
        SHOPIFY_API_SECRET=SHOPIFY_SECRET,
        DATABASE_URL=opts.database_url,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
        Q_LOG_LEVEL="WARNING",
        Q_CLUSTER_NAME=BENCH_QUEUE,
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


@contextmanager
def gunicorn(opts: Options, app: str, *, env: dict[str, str], label: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """gunicorn with the settings both ingest servers share: N sync workers, no access log."""
    port = free_port()
    args = [
        PYTHON, "-m", "gunicorn", app, "--bind", f"127.0.0.1:{port}", "--workers", str(opts.web_workers),
        "--worker-class", "sync", "--backlog", "2048", "--timeout", "30", "--log-level", "warning",
    ]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
    try:
        wait_for_port(port, proc)
        say(f"  {label}: gunicorn {app} on 127.0.0.1:{port}, {opts.web_workers} sync workers (pid {proc.pid})")
        yield port, proc
    finally:
        stop(proc, whole_group=True)


@contextmanager
def qcluster(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A real django-q2 cluster, stopped by signalling its main process only (django-q2 #346)."""
    proc = subprocess.Popen([PYTHON, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc, whole_group=False)


def stop(proc: subprocess.Popen[bytes], *, whole_group: bool, grace: float = 20) -> None:
    if proc.poll() is None:
        try:
            if whole_group:
                os.killpg(proc.pid, signal.SIGTERM)
            else:
                proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever its children left behind
    except ProcessLookupError:
        pass
    proc.wait()


def run_loadgen(port: int, *, mode: str, prefix: str, duration: float, rate: float = 100.0,
                concurrency: int = 16, topic: str = "orders/create", path: str = "/webhooks/shopify/") -> dict[str, Any]:
    args = [
        PYTHON, "-m", "bench.loadgen", "--mode", mode, "--port", str(port), "--secret", SHOPIFY_SECRET,
        "--prefix", prefix, "--duration", str(duration), "--rate", str(rate), "--concurrency", str(concurrency),
        "--topic", topic, "--path", path, "--max-requests", str(int(max(2000, 3000 * duration))),
    ]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, timeout=duration + 120)
    result: dict[str, Any] = json.loads(out.stdout)
    if result["errors"]:
        say(f"  load generator: {result['errors']} transport errors, e.g. {result['error_sample']}")
    return result


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user + system) used by `root` and its descendants, including the ones
    that exited and were reaped inside the tree (their time is in the parent's cutime)."""
    ticks = 0
    for pid in process_tree(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_server_pid() -> int | None:
    """The postmaster of the bench database when it runs on this machine, else None."""
    try:
        backend = int(scalar("SELECT pg_backend_pid()"))
        stat = Path(f"/proc/{backend}/stat").read_text()
        if "postgres" not in Path(f"/proc/{backend}/cmdline").read_text() and "postgres" not in stat:
            return None
        return int(stat.rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, TypeError):
        return None


def rss_kb(pid: int) -> int | None:
    """VmRSS of a process in kB, or None when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def execute(sql: str, params: tuple[Any, ...] | None = None) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def scalar(sql: str, params: tuple[Any, ...] | None = None) -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return row[0] if row else None


def reset_event_tables() -> None:
    """Empty what the scenarios fill. The bench database is the bench's own."""
    from django.db import connection

    if connection.vendor != "postgresql":  # --allow-sqlite
        for table in ("deadletters_replayrecord", "deadletters_deadletter", "webhooks_eventattempt",
                      "webhooks_eventsubject", "webhooks_webhookevent", "webhooks_shop", "django_q_ormq", "django_q_task"):
            execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        return
    execute(
        "TRUNCATE webhooks_webhookevent, webhooks_eventattempt, webhooks_eventsubject, deadletters_deadletter, "
        "deadletters_replayrecord, "
        "webhooks_shop, django_q_ormq, django_q_task RESTART IDENTITY CASCADE"
    )


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    value = func(*args, **kwargs)
    return time.perf_counter() - t0, value
