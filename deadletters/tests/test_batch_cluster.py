"""Replay batches on a real `manage.py qcluster` (SQLite or PostgreSQL, whichever the suite
runs on): paused from this process (another client) while the cluster runs it, resumed,
cancelled; killed mid-batch and resumed by the sweeper at the same rate; a paused batch
left paused; a failing canary and the automatic pause. Small rates and counts: a few
seconds each."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pytest
from django.utils import timezone

from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter
from deadletters.tests.factories import bulk_dead_letters
from timedify_ops.models import JobRun
from webhooks.tests.test_worker import STARTUP_TIMEOUT, qcluster, wait_for
from webhooks.tests.worker_handlers import SIDE_EFFECT_TASK

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def short_leases(monkeypatch: Any) -> None:
    """The cluster's runs are short and its claims lapse soon after a kill."""
    monkeypatch.setenv("DEADLETTER_BATCH_TASK_SECONDS", "2")
    monkeypatch.setenv("DEADLETTER_REPLAY_LEASE_SECONDS", "2")
    monkeypatch.setenv("DEADLETTER_BATCH_FAILURE_WINDOW", "3")
    monkeypatch.setenv("DEADLETTER_BATCH_FAILURE_RATIO", "0.6")
    monkeypatch.setenv("DEADLETTER_REPLAY_CHUNK", "1")


def batch_of(count: int, topic: str, **options: Any) -> tuple[ReplayBatch, list[int]]:
    ids = [d.pk for d in bulk_dead_letters(count, topic=topic)]
    return ReplayBatch.start(ids, None, f"{count} of {topic}", **options), ids


def handler_starts(ids: list[int]) -> list[datetime]:
    """When the side-effect handler started for these dead letters' events (committed runs)."""
    events = DeadLetter.objects.filter(pk__in=ids).values_list("event_id", flat=True)
    summaries = [f"event {pk}" for pk in events]
    return sorted(JobRun.objects.filter(task=SIDE_EFFECT_TASK, summary__in=summaries).values_list("started_at", flat=True))


def state(batch: ReplayBatch) -> ReplayBatch:
    batch.refresh_from_db()
    return batch


def open_and_free(ids: list[int]) -> int:
    return DeadLetter.objects.filter(pk__in=ids, status="open", replay_lease_expires_at__isnull=True).count()


def test_it_pauses_resumes_and_cancels_a_running_batch_from_another_client():
    batch, ids = batch_of(40, "tests/side-effect", rate=5)
    with qcluster() as cluster:
        wait_for(lambda: state(batch).done >= 3, STARTUP_TIMEOUT, cluster, "three items done")
        assert batch.pause(None, "a second look") in ("asked", "paused")
        wait_for(lambda: state(batch).status == "paused", 5, cluster, "the pause to be acknowledged")
        starts = handler_starts(ids)
        assert starts and max(starts) < batch.paused_at  # nothing started after the acknowledgement
        done = batch.done
        time.sleep(1.0)
        assert len(handler_starts(ids)) == state(batch).done == done
        assert open_and_free(ids) == 40 - done and batch.pause_reason == "a second look"

        assert batch.resume(None)
        wait_for(lambda: state(batch).done >= done + 3, 10, cluster, "three more after the resume")
        assert batch.cancel(None) in ("asked", "cancelled")
        wait_for(lambda: state(batch).status == "cancelled", 5, cluster, "the cancel to be acknowledged")
        time.sleep(1.0)
        assert max(handler_starts(ids)) < state(batch).finished_at
        assert len(handler_starts(ids)) == batch.done < 40
        assert open_and_free(ids) == 40 - batch.done
        assert [c["what"] for c in batch.history] == ["started", *batch_changes(batch)]
        assert cluster.terminate() == 0


def batch_changes(batch: ReplayBatch) -> list[str]:
    """The history after "started": each control either asked (a worker held the batch)
    or done at once (between two runs); both are honest."""
    return [c["what"] for c in batch.history[1:]]


def test_it_resumes_a_killed_batch_at_its_rate_and_leaves_a_paused_one_paused():
    batch, ids = batch_of(40, "tests/side-effect", rate=4)
    parked, parked_ids = batch_of(5, "tests/side-effect", rate=None)
    assert parked.pause(None) == "paused"
    with qcluster() as first:
        wait_for(lambda: state(batch).done >= 4, STARTUP_TIMEOUT, first, "four items done")
        first.kill()
    assert state(batch).status == "running"  # its worker died holding it
    before = len(handler_starts(ids))
    # The lease lapses (2 s run + 2 s replay lease); the sweeper hands the batch out again.
    wait_for(lambda: ReplayBatch.resume_stalled() == 1, 10, _Alive(), "the sweeper to resume it")
    with qcluster() as second:
        wait_for(lambda: len(handler_starts(ids)) >= before + 9, STARTUP_TIMEOUT + 10, second, "nine more items")
        starts = handler_starts(ids)[before:before + 9]
        rate = 8 / (starts[-1] - starts[0]).total_seconds()
        assert 3.4 <= rate <= 4.4, f"resumed at {rate:.2f}/s instead of 4/s"
        batch.cancel(None)
        wait_for(lambda: state(batch).status == "cancelled", 5, second, "the cancel")
        time.sleep(0.5)
        assert state(parked).status == "paused" and parked.done == 0 and open_and_free(parked_ids) == 5
        assert second.terminate() == 0
    assert len(handler_starts(ids)) == state(batch).done  # no item ran twice, none lost


class _Alive:
    """wait_for's cluster argument when no cluster runs."""

    class proc:  # noqa: N801 - mimics Popen
        @staticmethod
        def poll() -> None:
            return None

    def output(self) -> str:
        return ""


def test_a_failing_canary_and_the_automatic_pause_stop_batches_in_the_cluster():
    canary, canary_ids = batch_of(10, "tests/always-fails", rate=None, canary=2)
    ratio, ratio_ids = batch_of(10, "tests/always-fails", rate=None)
    with qcluster() as cluster:
        wait_for(lambda: state(canary).status == "paused" and state(ratio).status == "paused",
                 STARTUP_TIMEOUT, cluster, "both batches to pause")
        assert cluster.terminate() == 0
    assert (canary.done, canary.failed) == (2, 2) and canary.pause_reason.startswith("canary: 2 of the first 2 failed")
    # Window 3, threshold 60 %: three failures in a row trip it after the third.
    assert ratio.done == 3 and ratio.pause_reason.startswith("automatic: 3 of the last 3 replays failed")
    assert open_and_free(canary_ids) == 10 and open_and_free(ratio_ids) == 10
    assert timezone.now() > ratio.paused_at
