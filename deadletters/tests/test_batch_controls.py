"""Replay batches steered while they run: pause, resume, cancel, canary, automatic pause,
pacing, the sweeper, the honest badge. The runner runs in this process here; the real
cluster's part is in test_batch_cluster.py."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.urls import reverse
from django.utils import timezone
from django_q.models import OrmQ
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from deadletters import batch_run
from deadletters.batches import BatchItem, ReplayBatch
from deadletters.models import DeadLetter
from deadletters.tests import factories
from deadletters.tests.factories import bulk_dead_letters, staff_user

pytestmark = pytest.mark.django_db


def open_and_free(ids: list[int]) -> bool:
    return DeadLetter.objects.filter(pk__in=ids, status="open", replay_lease_expires_at__isnull=True).count() == len(ids)


def test_it_pauses_a_queued_batch_at_once_and_leaves_the_rest_open(flaky_handler):
    ids = [d.pk for d in bulk_dead_letters(4)]
    batch = ReplayBatch.start(ids, None, "four", rate=None, enqueue=False)
    assert batch.pause(None, "looks wrong") == "paused"
    assert batch_run.run(batch) is True  # the queued task finds it paused and does nothing
    assert (batch.status, batch.done, batch.pause_reason) == ("paused", 0, "looks wrong")
    assert open_and_free(ids) and flaky_handler.calls == 0
    assert batch.outcome == ("paused", "paused")


def test_it_stops_after_the_chunk_in_hand_when_paused_while_running(flaky_handler, settings):
    """Another client pauses while a run holds the batch: the run acknowledges before its
    next chunk; no item starts after that, and the rest stay open and unclaimed."""
    settings.DEADLETTER_REPLAY_CHUNK = 2
    flaky_handler.fail = False
    ids = [d.pk for d in bulk_dead_letters(8)]
    batch = ReplayBatch.start(ids, None, "eight", enqueue=False)
    answers = []

    def pause_from_elsewhere(items: list[BatchItem]) -> None:
        if not answers:
            answers.append(ReplayBatch.objects.get(pk=batch.pk).pause(None))

    assert batch_run.run(batch, on_items=pause_from_elsewhere) is True
    assert answers == ["asked"]
    assert (batch.status, batch.done, batch.requested) == ("paused", 2, "")
    assert flaky_handler.calls == 2 and open_and_free(ids[2:])
    assert [c["what"] for c in batch.history] == ["started", "pause asked"]

    assert batch.resume(None) is True and batch.status == "queued"
    with pytest.raises(AssertionError):
        assert batch.resume(None)  # not paused any more: nothing to resume
    answers.clear()

    def cancel_from_elsewhere(items: list[BatchItem]) -> None:
        if not answers:
            answers.append(ReplayBatch.objects.get(pk=batch.pk).cancel(None))

    batch_run.run(batch, on_items=cancel_from_elsewhere)
    assert answers == ["asked"] and (batch.status, batch.done) == ("cancelled", 4)
    assert open_and_free(ids[4:]) and flaky_handler.calls == 4
    assert batch.outcome == ("cancelled", "cancelled") and batch.finished_at is not None
    assert batch.resume(None) is False and batch.pause(None) == "" and batch.cancel(None) == ""


@pytest.fixture
def slow_forwards(flaky_handler: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test handler as a forward (outside the database: each item a part of its own),
    chunks of ten, and the batch read after every part (no clock in these tests)."""
    monkeypatch.setattr(factories.flaky_handler, "atomic", False, raising=False)
    monkeypatch.setattr(batch_run, "CHECK_SECONDS", 0)
    settings.DEADLETTER_REPLAY_CHUNK = 10
    flaky_handler.fail = False
    return flaky_handler


def started(count: int, description: str) -> tuple[list[int], ReplayBatch]:
    ids = [d.pk for d in bulk_dead_letters(count)]
    return ids, ReplayBatch.start(ids, None, description, enqueue=False)


def test_it_stops_between_the_forwards_of_a_chunk_when_paused(slow_forwards):
    """Between the parts of a chunk the run writes its progress, renews its lease and reads
    the batch again: a pause asked while slow forwards run takes effect after the one in hand."""
    ids, batch = started(10, "ten forwards")
    leases = []

    def pause_from_elsewhere(items: list[BatchItem]) -> None:
        leases.append(ReplayBatch.objects.get(pk=batch.pk).lease_expires_at)
        if len(leases) == 2:
            assert ReplayBatch.objects.get(pk=batch.pk).pause(None) == "asked"

    assert batch_run.run(batch, on_items=pause_from_elsewhere) is True
    assert (batch.status, batch.done, batch.ok, batch.requested) == ("paused", 2, 2, "")
    assert slow_forwards.calls == 2 and open_and_free(ids[2:])
    assert leases[0] < leases[1]  # renewed within the chunk
    assert list(batch.items.values_list("dead_letter_id", flat=True)) == ids[:2]

    assert batch.resume(None) is True
    assert batch_run.run(batch) is True
    assert (batch.status, batch.done, batch.ok) == ("finished", 10, 10) and slow_forwards.calls == 10


def test_it_stops_within_a_chunk_when_another_run_took_the_batch_over(slow_forwards):
    ids, batch = started(4, "four forwards")

    def taken_over(items: list[BatchItem]) -> None:  # its lease lapsed and another run claimed it
        ReplayBatch.objects.filter(pk=batch.pk).update(lease_expires_at=timezone.now() + timedelta(hours=1))

    assert batch_run.run(batch, on_items=taken_over) is True
    assert (batch.status, batch.done) == ("running", 1)
    assert slow_forwards.calls == 1 and open_and_free(ids[1:])


def test_it_sizes_its_chunks_to_the_pace_of_the_last_one(flaky_handler, settings, monkeypatch):
    """A chunk's items share a transaction, so a pause waits for the chunk in hand: chunks
    hold CHUNK_BUDGET_SECONDS' worth of items at the pace of the last chunk, in this run or
    (for the first chunk of a run) since the batch started."""
    monkeypatch.setattr(batch_run, "CHUNK_BUDGET_SECONDS", 0)  # whatever the pace: one item a chunk
    settings.DEADLETTER_REPLAY_CHUNK = 4
    flaky_handler.fail = False
    sizes: list[int] = []

    def note(items: list[BatchItem]) -> None:
        sizes.append(len(items))

    _ids, batch = started(7, "seven")
    assert batch_run.run(batch, on_items=note) is True
    assert batch.status == "finished" and sizes == [4, 1, 1, 1]

    sizes.clear()
    _ids, batch = started(7, "seven, a chunk a run")
    while not batch_run.run(batch, budget_seconds=0, on_items=note):
        pass
    assert batch.status == "finished" and sizes == [4, 1, 1, 1]


def test_it_pauses_when_the_canary_fails_and_goes_on_after_a_resume(flaky_handler, settings):
    settings.DEADLETTER_BATCH_FAILURE_RATIO = 0  # the canary alone decides here
    ids = [d.pk for d in bulk_dead_letters(6)]
    flaky_handler.fail, flaky_handler.fail_orders = False, {1}
    batch = ReplayBatch.start(ids, None, "six", canary=3, enqueue=False)
    assert batch_run.run(batch) is True
    assert (batch.status, batch.done, batch.failed) == ("paused", 3, 1)
    assert batch.pause_reason.startswith("canary: 1 of the first 3 failed")
    assert batch.history[-1]["who"] == "automatic" and open_and_free(ids[3:])
    batch.resume(None)
    batch_run.run(batch)
    assert (batch.status, batch.done, batch.ok, batch.failed) == ("finished", 6, 5, 1)
    assert batch.outcome == ("partial", "some failed")


def test_it_runs_on_when_the_canary_passes(flaky_handler):
    flaky_handler.fail = False
    ids = [d.pk for d in bulk_dead_letters(5)]
    batch = ReplayBatch.start(ids, None, "five", canary=2, enqueue=False)
    batch_run.run(batch)
    assert (batch.status, batch.ok) == ("finished", 5) and batch.outcome == ("ok", "all ok")


def auto_pause_case(fails: list[bool], window: int, ratio: float) -> int | None:
    """Where the automatic pause should stop a batch, judged after each chunk of one."""
    for end in range(window, len(fails) + 1):
        if sum(fails[end - window:end]) / window >= ratio:
            return end
    return None


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fails=st.lists(st.booleans(), min_size=1, max_size=12), window=st.integers(1, 4),
       ratio=st.sampled_from([0.25, 0.5, 1.0]))
def test_it_pauses_itself_exactly_when_the_failure_ratio_reaches_the_threshold(flaky_handler, settings, fails, window, ratio):
    settings.DEADLETTER_REPLAY_CHUNK = 1
    settings.DEADLETTER_BATCH_FAILURE_WINDOW, settings.DEADLETTER_BATCH_FAILURE_RATIO = window, ratio
    dead_letters = bulk_dead_letters(len(fails))
    flaky_handler.fail = False
    flaky_handler.fail_orders = {d.event.payload["id"] for d, fail in zip(dead_letters, fails, strict=True) if fail}
    batch = ReplayBatch.start([d.pk for d in dead_letters], None, "hypothesis", enqueue=False)
    batch_run.run(batch)
    expected = auto_pause_case(fails, window, ratio)
    if expected is None:
        assert batch.status == "finished" and batch.done == len(fails)
    else:
        assert (batch.status, batch.done) == ("paused", expected)
        assert batch.pause_reason.startswith(f"automatic: {sum(fails[expected - window:expected])} of the last {window}")


def test_it_holds_its_rate_and_keeps_it_across_runs(flaky_handler):
    flaky_handler.fail = False
    ids = [d.pk for d in bulk_dead_letters(9)]
    batch = ReplayBatch.start(ids, None, "nine", rate=20, enqueue=False)
    t0 = time.monotonic()
    assert batch_run.run(batch, budget_seconds=0.2) is False  # time is up: back to the queue
    assert batch.status == "queued" and 0 < batch.done < 9
    while not batch_run.run(batch, budget_seconds=0.2):
        pass
    elapsed = time.monotonic() - t0
    # Nine items at 20/s: the last starts 0.4 s after the first. Never faster.
    assert batch.status == "finished" and 0.38 <= elapsed < 1.5
    assert batch.eta_seconds() is None


def test_it_gives_an_eta_at_its_rate():
    batch = ReplayBatch(total=100, done=40, rate=20, status="running")
    assert batch.eta_seconds() == 3.0


def test_the_sweeper_resumes_a_running_batch_whose_worker_died_and_leaves_a_paused_one(flaky_handler):
    past = timezone.now() - timedelta(seconds=1)
    running = ReplayBatch.objects.create(dead_letter_ids=[1], total=1, status="running", lease_expires_at=past)
    paused = ReplayBatch.objects.create(dead_letter_ids=[1], total=1, status="paused")
    asked = ReplayBatch.objects.create(dead_letter_ids=[1], total=1, status="running", lease_expires_at=past,
                                       requested="pause")
    OrmQ.objects.all().delete()
    assert ReplayBatch.resume_stalled() == 1
    assert [q.task["args"] for q in OrmQ.objects.all()] == [(running.pk,)]
    paused.refresh_from_db()
    asked.refresh_from_db()
    assert paused.status == "paused" and asked.status == "paused" and asked.requested == ""


def test_support_steers_a_batch_from_the_list_and_viewer_may_not(client, flaky_handler):
    ids = [d.pk for d in bulk_dead_letters(3)]
    batch = ReplayBatch.start(ids, None, "three", enqueue=False)
    control = reverse("admin:deadletters_replaybatch_control", args=[batch.pk])
    client.force_login(staff_user("viewer1", "Viewer"))
    assert client.post(control, {"control": "pause"}).status_code == 403
    support = staff_user("support1", "Support")
    client.force_login(support)
    listing = client.get(reverse("admin:deadletters_replaybatch_changelist")).content.decode()
    assert f'id="batch-{batch.pk}-pause"' in listing
    response = client.post(control, {"control": "pause"})
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == "paused" and batch.history[-1]["who"] == "support1"
    assert LogEntry.objects.filter(user=support, object_id=str(batch.pk), change_message__startswith="Pause").exists()
    page = client.get(reverse("admin:deadletters_replaybatch_change", args=[batch.pk])).content.decode()
    assert "paused by support1" in page and 'id="batch-resume"' in page and 'id="batch-cancel"' in page
    client.post(control, {"control": "cancel"})
    batch.refresh_from_db()
    assert batch.status == "cancelled" and open_and_free(ids)
    assert [c["what"] for c in batch.history] == ["started", "paused", "cancelled"]


def test_it_shows_an_all_failed_batch_as_all_failed_with_failures_linked(admin_client, flaky_handler, settings):
    settings.DEADLETTER_BATCH_FAILURE_RATIO = 0
    ids = [d.pk for d in bulk_dead_letters(3)]
    batch = ReplayBatch.start(ids, None, "three", enqueue=False, origin="filter",
                              origin_url="/admin/deadletters/deadletter/?topic=tests%2Fflaky")
    batch_run.run(batch)
    assert batch.outcome == ("failed", "all failed")
    page = admin_client.get(reverse("admin:deadletters_replaybatch_change", args=[batch.pk])).content.decode()
    assert "all failed" in page and "Finished" not in page.split('id="batch-badge"')[1][:200]
    assert 'href="/admin/deadletters/deadletter/?topic=tests%2Fflaky"' in page
    filtered = admin_client.get(reverse("admin:deadletters_replaybatch_change", args=[batch.pk]), {"outcome": "ok"})
    assert "No item matches" in filtered.content.decode()
