"""`make run`'s launcher: serves the console with a worker, prints a stable login, and
Ctrl+C stops everything it started."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bench.common import process_tree

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def descendants(pid: int) -> set[int]:
    return set(process_tree(pid)[1:])


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def launch(var_dir: Path, port: int, log: Path) -> tuple[subprocess.Popen[str], str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY")}
    env |= {"TIMEDIFY_VAR_DIR": str(var_dir), "PORT": str(port), "Q_WORKERS": "1"}
    # A file, not a pipe: a pipe nobody drains would block the children's logging.
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "scripts/run.py"], cwd=ROOT, env=env, stdout=sink, stderr=sink, text=True)
    deadline = time.monotonic() + 90
    try:
        while "Ctrl+C stops both" not in (output := log.read_text()):
            assert proc.poll() is None, output
            assert time.monotonic() < deadline, output
            time.sleep(0.2)
    except BaseException:
        interrupt(proc)
        raise
    return proc, output


def interrupt(proc: subprocess.Popen[str]) -> list[int]:
    """Ctrl+C, as the terminal sends it. Returns the processes the launcher started that
    were still alive once it exited (there should be none), after killing them, so a
    failing test never leaves a console running."""
    children = descendants(proc.pid)
    proc.send_signal(signal.SIGINT)
    survivors: list[int] = []
    try:
        proc.wait(timeout=90)
        time.sleep(0.5)
        survivors = [pid for pid in children | descendants(proc.pid) if alive(pid)]
    finally:
        for pid in children | descendants(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    return survivors


def wait_healthy(port: int) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while True:
        try:
            response = requests.get(f"http://127.0.0.1:{port}/health", timeout=2)
            return dict(response.json())
        except requests.ConnectionError:
            assert time.monotonic() < deadline, "the console never answered /health"
            time.sleep(0.3)


@pytest.mark.slow
def test_it_serves_the_console_with_a_worker_and_ctrl_c_leaves_nothing_behind(tmp_path):
    port = free_port()
    proc, output = launch(tmp_path, port, tmp_path / "run1.log")
    try:
        login = re.search(r"Login: (\S+) / (\S+)", output)
        assert login and login.group(1) == "admin"
        assert f"http://127.0.0.1:{port}/admin/" in output
        assert "Seeded" in output  # an empty database gets demo data
        assert wait_healthy(port)["status"] == "ok"
        deadline = time.monotonic() + 30
        # runserver, the qcluster and the processes it forks (sentinel, workers, monitor).
        while len(children := descendants(proc.pid)) < 5:
            assert time.monotonic() < deadline, f"only {len(children)} child processes"
            time.sleep(0.3)
        session = requests.Session()
        page = session.get(f"http://127.0.0.1:{port}/admin/login/", timeout=5)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token
        response = session.post(
            f"http://127.0.0.1:{port}/admin/login/?next=/admin/",
            data={"username": "admin", "password": login.group(2), "csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": f"http://127.0.0.1:{port}/admin/login/"},
            timeout=5,
        )
        assert "Log out" in response.text or "logout" in response.text
    finally:
        survivors = interrupt(proc)
    rest = (tmp_path / "run1.log").read_text()
    assert proc.returncode == 0, rest
    assert "Stopped." in rest
    assert survivors == []
    assert [pid for pid in children if alive(pid)] == []

    # A second run reuses the database and prints the same login, without reseeding.
    proc2, output2 = launch(tmp_path, port, tmp_path / "run2.log")
    try:
        assert re.search(r"Login: (\S+) / (\S+)", output2).group(2) == login.group(2)  # type: ignore[union-attr]
        assert "Seeded" not in output2
    finally:
        survivors = interrupt(proc2)
    assert proc2.returncode == 0
    assert survivors == []
