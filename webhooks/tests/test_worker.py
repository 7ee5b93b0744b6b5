"""A real `manage.py qcluster` against the test database: it processes stored events, a
SIGKILL mid-handler loses nothing and doubles nothing once the sweeper has run, and a
SIGTERM lets the item in hand finish.

The cluster runs in its own process group. SIGTERM goes to the main process only
(django-q2 #346: signalling the whole group can hang the shutdown); SIGKILL goes to the
whole group, as a machine crash would take every worker with it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from deadletters.models import DeadLetter
from webhooks import processing
from webhooks.models import EventStatus, WebhookEvent
from webhooks.tests.support import store_event
from webhooks.tests.worker_handlers import side_effect_count

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

LEASE_SECONDS = 4
STARTUP_TIMEOUT = 40.0


def child_database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Cluster:
    def __init__(self, proc: subprocess.Popen[bytes], log: Path) -> None:
        self.proc, self.log = proc, log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)  # the main process only
        return self.proc.wait(timeout)

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(10)


@contextmanager
def qcluster(**overrides: str) -> Iterator[Cluster]:
    """A cluster against the test database; `overrides` are environment variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "PYTEST_CURRENT_TEST")}
    env.update(
        DEBUG="1", DATABASE_URL=child_database_url(), Q_WORKERS="1", Q_POLL="0.1",
        # A short lease so the sweeper takes over soon after a crash; Q_TIMEOUT below it
        # (system check E004) and below Q_RETRY, and above the slow handler's 2 s.
        WEBHOOK_LEASE_SECONDS=str(LEASE_SECONDS), Q_TIMEOUT="3", Q_RETRY="5",
        WEBHOOK_EXTRA_HANDLER_MODULES="webhooks.tests.worker_handlers",
        SHOPIFY_API_SECRET=settings.SHOPIFY_API_SECRET,
    )
    env.update(overrides)
    with tempfile.NamedTemporaryFile(prefix="qcluster-", suffix=".log", delete=False) as log:
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=settings.BASE_DIR, env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    cluster = Cluster(proc, Path(log.name))
    try:
        yield cluster
    finally:
        cluster.kill()
        Path(log.name).unlink(missing_ok=True)


def wait_for(check: Callable[[], bool], timeout: float, cluster: Cluster, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if cluster.proc.poll() is not None:
            break
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}; cluster output:\n{cluster.output()}")


def status(event_id: int) -> str:
    return WebhookEvent.objects.values_list("status", flat=True).get(pk=event_id)


def test_it_processes_posted_deliveries_in_a_real_cluster(deliver):
    # Posted to the console like Shopify would: ingest enqueues after the commit.
    ids = {}
    for topic in ("tests/side-effect", "carts/update", "tests/permanent"):
        response = deliver({"id": 1, "token": "abc"}, topic=topic)
        assert response.status_code == 200
        ids[topic] = response.json()["id"]
    with qcluster() as cluster:
        wait_for(
            lambda: WebhookEvent.objects.filter(pk__in=ids.values()).pending().count() == 0,
            STARTUP_TIMEOUT, cluster, "every event to finish",
        )
        assert cluster.terminate() == 0
    assert status(ids["tests/side-effect"]) == EventStatus.PROCESSED
    assert side_effect_count(ids["tests/side-effect"]) == 1
    assert status(ids["carts/update"]) == EventStatus.IGNORED
    assert status(ids["tests/permanent"]) == EventStatus.DEAD
    assert DeadLetter.objects.get(event_id=ids["tests/permanent"]).error_class == "webhooks.errors.PermanentError"


def test_it_recovers_an_event_whose_cluster_was_killed_mid_handler():
    event = store_event("tests/slow", {"seconds": 2})
    assert processing.enqueue(event.pk)
    with qcluster() as first:
        wait_for(lambda: status(event.pk) == EventStatus.PROCESSING, STARTUP_TIMEOUT, first, "the claim")
        time.sleep(0.5)  # inside the handler's 2 s sleep, its row inserted but not committed
        first.kill()
    assert status(event.pk) == EventStatus.PROCESSING
    assert side_effect_count(event.pk) == 0  # the killed attempt's work rolled back
    lease = WebhookEvent.objects.get(pk=event.pk).lease_expires_at
    time.sleep(max(0.0, (lease - timezone.now()).total_seconds()) + 0.2)
    assert processing.sweep() == 1
    with qcluster() as second:
        wait_for(lambda: status(event.pk) == EventStatus.PROCESSED, STARTUP_TIMEOUT, second, "processed")
        # The killed cluster's own queue entry comes back after Q_RETRY: it must not run
        # the handler again.
        time.sleep(3)
        assert second.terminate() == 0
    assert side_effect_count(event.pk) == 1
    event.refresh_from_db()
    # The killed attempt counts: recorded by the sweeper against the retry budget.
    attempts = list(event.attempt_log.order_by("number").values_list("outcome", "error_class"))
    assert attempts == [("failed", "WorkerDied"), ("ok", "")]


def test_it_finishes_the_item_in_hand_on_sigterm():
    event = store_event("tests/slow", {"seconds": 2})
    assert processing.enqueue(event.pk)
    with qcluster() as cluster:
        wait_for(lambda: status(event.pk) == EventStatus.PROCESSING, STARTUP_TIMEOUT, cluster, "the claim")
        time.sleep(0.3)
        started = time.monotonic()
        assert cluster.terminate() == 0, cluster.output()
        assert time.monotonic() - started >= 1.0  # it waited for the handler
    assert status(event.pk) == EventStatus.PROCESSED
    assert side_effect_count(event.pk) == 1
