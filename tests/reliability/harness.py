"""Real processes for the reliability scenarios: a private PostgreSQL and Redis on free
loopback ports, gunicorn, qcluster, a signed-delivery sender and the counts.

Nothing here touches a shared server: PostgreSQL is initdb'd in a temp dir and run as the
`postgres` user (postgres refuses root), Redis keeps nothing on disk. Every process is
started in its own session so it can be signalled alone, and stopped at the end.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from cryptography.fernet import Fernet

from conftest import SHOPIFY_SECRET
from webhooks.verify import shopify_signature

ROOT = Path(__file__).resolve().parents[2]
PG_BIN = Path(os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin"))
PYTHON = sys.executable


def missing_dependencies() -> list[str]:
    missing = [str(PG_BIN / b) for b in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / b).exists()]
    if shutil.which("redis-server") is None:
        missing.append("redis-server")
    if shutil.which("gunicorn", path=str(Path(PYTHON).parent)) is None:
        missing.append("gunicorn")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    return missing


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if predicate():
                return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class PrivatePostgres:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "pgdata"
        self.port = free_port()
        self.log = workdir / "postgres.log"

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
            shutil.chown(self.dir.parent, "postgres")
        subprocess.run(
            _as_postgres([str(PG_BIN / "initdb"), "-D", str(self.dir), "-A", "trust", "-U", "postgres", "--no-sync"]),
            check=True, capture_output=True,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir} -c fsync=off -c max_connections=200"
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "start", "-D", str(self.dir), "-w", "-t", "30", "-l", str(self.log), "-o", options]),
            check=True, capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.dir), "-m", mode, "-w"]), capture_output=True)

    def url(self, db: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def execute(self, sql: str, db: str = "postgres") -> None:
        with psycopg.connect(self.url(db), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def query(self, sql: str, db: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url(db), autocommit=True) as conn:
            return conn.execute(sql, list(params)).fetchall()  # type: ignore[arg-type]


class PrivateRedis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_for(lambda: self.command("PING") == "+PONG", 10, "redis")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def command(self, *words: str) -> str:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall((" ".join(words) + "\r\n").encode())
            return s.recv(1024).decode().strip()

    def dbsize(self) -> int:
        return int(self.command("DBSIZE").lstrip(":"))

    def queued(self) -> int:
        """Tasks waiting in django-q2's Redis lists (every list key's length)."""
        lines = self.command("KEYS", "*").splitlines()
        names = [line for line in lines[1:] if not line.startswith("$")]
        return sum(int(self.command("LLEN", name).lstrip(":")) for name in names if self.command("TYPE", name) == "+list")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Service:
    """A long-running process in its own session; its output goes to a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name, self.cmd, self.env = name, cmd, env
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(self.cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def children(self) -> list[int]:
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == self.pid:
                    pids.append(int(stat.parent.name))
        return pids

    def kill_hard(self) -> None:
        """kill -9 of the whole service (main process and its children): a crashed machine."""
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the main PID only (django-q2 #346), then kill -9 what is left."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)
        if self.proc:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(5)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:]) if self.log_path.exists() else ""


def base_env(workdir: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_", "PYTEST"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.reliability.settings",
        PYTHONPATH=str(ROOT),
        DEBUG="0",
        SECRET_KEY="reliability-scenario-key-" + "x" * 40,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SHOPIFY_API_SECRET=SHOPIFY_SECRET,
        # Production settings refuse to start without a key for the shops' tokens.
        TOKEN_ENCRYPTION_KEY=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        TIMEDIFY_VAR_DIR=str(workdir / "var"),
        Q_CLUSTER_NAME="reliability",
        Q_WORKERS="2",
        WEBHOOK_LEASE_SECONDS="4",
        Q_TIMEOUT="2",
        Q_RETRY="3",
        WEBHOOK_RETRY_DELAYS="0.05,0.05",
        GUNICORN_PRELOAD="0",
        GUNICORN_WORKER_TMP_DIR=str(workdir),
    )
    env.update(extra)
    return env


def gunicorn(workdir: Path, env: dict[str, str], workers: int = 3) -> tuple[Service, str]:
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": str(workers), "GUNICORN_ACCESS_LOG": ""}
    cmd = [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "timedify_ops.wsgi"]
    service = Service(f"gunicorn-{port}", cmd, env, workdir).start()
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get_status(base, "/health") == 200, 30, f"gunicorn on {base}/health")
    return service, base


def qcluster(workdir: Path, env: dict[str, str], name: str = "qcluster") -> Service:
    return Service(name, [PYTHON, "manage.py", "qcluster"], env, workdir).start()


def sweeper(workdir: Path, env: dict[str, str], duration: float, interval: float = 1.0) -> Service:
    cmd = [PYTHON, "-m", "tests.reliability.sweeper", str(interval), str(duration)]
    return Service(f"sweeper-{time.monotonic_ns()}", cmd, env, workdir).start()


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PYTHON, "manage.py", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def get_status(base: str, path: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


@dataclass
class Delivery:
    webhook_id: str
    topic: str = "reliability/record"
    body: bytes = field(default_factory=lambda: json.dumps({"id": uuid.uuid4().int % 10**9}).encode())


def post(base: str, delivery: Delivery, timeout: float = 10) -> int:
    """One signed delivery; the HTTP status, or 0 when no answer came (connection reset)."""
    host, port = base.removeprefix("http://").split(":")
    headers = {
        "X-Shopify-Topic": delivery.topic,
        "X-Shopify-Shop-Domain": "reliability.myshopify.com",
        "X-Shopify-Webhook-Id": delivery.webhook_id,
        "X-Shopify-API-Version": "2025-10",
        "X-Shopify-Hmac-Sha256": shopify_signature(delivery.body, SHOPIFY_SECRET),
        "Content-Type": "application/json",
    }
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request("POST", "/webhooks/shopify/", body=delivery.body, headers=headers)
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


def send_all(base: str, deliveries: list[Delivery], threads: int = 8, on_progress: Callable[[int], None] | None = None) -> list[int]:
    """Send concurrently; statuses in the order of `deliveries`."""
    done = 0
    lock = threading.Lock()

    def one(delivery: Delivery) -> int:
        nonlocal done
        status = post(base, delivery)
        if on_progress is not None:
            with lock:
                done += 1
                on_progress(done)
        return status

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, deliveries))


@contextlib.contextmanager
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="timedify-reliability-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def event_states(pg: PrivatePostgres, db: str) -> dict[str, str]:
    return dict(pg.query("SELECT webhook_id, status FROM webhooks_webhookevent", db))  # type: ignore[arg-type]


def side_effects(pg: PrivatePostgres, db: str) -> dict[str, int]:
    return dict(pg.query("SELECT webhook_id, count(*) FROM reliability_side_effect GROUP BY webhook_id", db))  # type: ignore[arg-type]


def report(name: str, **counts: int | float) -> str:
    line = f"[{name}] " + " ".join(f"{k}={v}" for k, v in counts.items())
    print(line, flush=True)
    return line
