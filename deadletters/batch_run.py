"""Running a replay batch: short runs, paced, that read the batch's state before each chunk.

A run claims the batch (a lease, which is also the claim token), then replays what is due
at the batch's rate in small chunks through the one replay path (deadletters.replay), and
after each chunk writes the chunk's report rows and the counters in one transaction that
also proves the claim and renews it. Before each chunk it reads the batch: a pause or a
cancel asked from anywhere is acknowledged there, so no item starts after it.

A chunk is sized to take about a second at the pace of the last one (slow handlers go a
few at a time), and within a chunk the progress is written and the batch read again
between its parts at most every CHECK_SECONDS: a chunk of slow forwards (each a part of
its own) can be paused after any of them and never outlasts the batch's lease.

A run works at most DEADLETTER_BATCH_TASK_SECONDS, then hands the batch back to the queue
(a fresh task), so one batch never holds a worker for long and other work gets through.
Pacing counts from an anchor stored on the batch (time and items done then): a new run, in
this process or another after a crash, keeps the same rate. A runner that fell more than a
second behind (a slow destination) re-anchors instead of bursting to catch up: the rate is
a ceiling the app behind the console can rely on.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from deadletters import staleness
from deadletters.batches import FAILED_OUTCOMES, OK_OUTCOMES, BatchItem, BatchStatus, ReplayBatch, lease_seconds
from deadletters.replay import replay_parts

# The longest nap between two status reads while waiting for the next item to be due.
NAP_SECONDS = 0.2
# At a rate, items start in groups of this much time's worth (one chunk each): a pause
# waits for one such chunk (more when the batch is catching up).
CHUNK_SECONDS = 0.2
# Behind schedule by more than this: start counting again rather than burst.
CATCH_UP_SECONDS = 1.0
# A chunk holds at most this much time's worth of items at the pace of the last one: a
# pause waits for about that much (the chunk's items share one transaction).
CHUNK_BUDGET_SECONDS = 1.0
# Within a chunk, between its parts: write the progress so far (renewing the lease) and
# read the batch again at most this often.
CHECK_SECONDS = 0.5
FIRST_CHUNK = 5  # items of a run's first chunk when its pace is not known yet

OnItems = Callable[[list[BatchItem]], None]


class Stop(Exception):
    """The run is over: the batch was paused, cancelled, finished or taken over."""


class Runner:
    def __init__(self, batch: ReplayBatch, budget: float, on_items: OnItems | None) -> None:
        self.batch, self.on_items = batch, on_items
        self.deadline = time.monotonic() + budget
        self.lease: datetime | None = None
        self.destination: Any = None
        self.next_check = 0.0  # monotonic time of the next read of the batch within a chunk
        self.fits: int | None = None  # items a chunk may hold at the last chunk's pace

    # --- the claim ----------------------------------------------------------------------

    def claim(self) -> bool:
        now = timezone.now()
        lease = now + timedelta(seconds=lease_seconds())
        claimable = Q(status=BatchStatus.QUEUED) | Q(status=BatchStatus.RUNNING, lease_expires_at__lt=now)
        updated = ReplayBatch.objects.filter(claimable, pk=self.batch.pk, requested="").update(
            status=BatchStatus.RUNNING, lease_expires_at=lease, started_at=self.batch.started_at or now
        )
        if updated != 1:
            return False
        self.lease = lease
        self.batch.refresh_from_db()
        self.destination = self.batch.destination
        if self.batch.anchor_at is None:
            self._anchor(now)
        # The first chunk of a run goes at the pace measured so far (slow handlers: a few);
        # with no pace yet (a new batch, or just resumed) a small one measures it, so that
        # a pause is not kept waiting behind a full chunk of slow handlers.
        pace = self.batch.measured_pace() if not self.batch.rate else None
        self.fit(pace)
        if pace is None and not self.batch.rate:
            self.fits = FIRST_CHUNK
        return True

    def fit(self, pace: float | None) -> None:
        """Size the chunks to come to CHUNK_BUDGET_SECONDS at `pace` (seconds per item)."""
        self.fits = max(1, math.floor(CHUNK_BUDGET_SECONDS / pace)) if pace else None

    def _anchor(self, now: datetime) -> None:
        self.batch.anchor_at, self.batch.anchor_done = now, self.batch.done
        self._mine().update(anchor_at=now, anchor_done=self.batch.done)

    def _mine(self) -> Any:
        return ReplayBatch.objects.filter(pk=self.batch.pk, lease_expires_at=self.lease)

    def check(self) -> None:
        """Read the batch: carry out a pause or cancel asked meanwhile; stop if the claim
        was lost (the lease lapsed and another run took over)."""
        self.next_check = time.monotonic() + CHECK_SECONDS
        row = ReplayBatch.objects.filter(pk=self.batch.pk).values("requested", "lease_expires_at").first()
        if row is None or row["lease_expires_at"] != self.lease:
            raise Stop
        if row["requested"]:
            status = BatchStatus.PAUSED if row["requested"] == "pause" else BatchStatus.CANCELLED
            self.rest(status, "", requested=row["requested"])

    def rest(self, status: str, reason: str, *, requested: str = "") -> None:
        """Acknowledge: the batch is at rest (paused, cancelled, finished) and ours no more."""
        now = timezone.now()
        values: dict[str, Any] = {"status": status, "requested": "", "lease_expires_at": None}
        if status == BatchStatus.PAUSED:
            row = ReplayBatch.objects.filter(pk=self.batch.pk).values_list("history", flat=True).first() or []
            last = row[-1] if row else {}
            reason = reason or last.get("why", "") or "paused"
            values.update(paused_at=now, pause_reason=reason[:300])
            if not requested:  # the batch paused itself: say so in its history
                values["history"] = [*row, {"at": now.isoformat(), "who": "automatic", "user_id": None,
                                            "what": "paused", "why": reason[:300]}]
        else:
            values["finished_at"] = now
        if self._mine().filter(requested=requested).update(**values) != 1 and not requested:
            self.check()  # a pause or cancel was asked meanwhile: that one wins
        raise Stop

    # --- the work -----------------------------------------------------------------------

    def run(self) -> bool:
        """True when the batch is at rest (or someone else has it); False to go on later."""
        if not self.claim():
            return True
        try:
            while self.batch.done < self.batch.total:
                self.check()
                count = self.due()
                if count == 0:
                    if time.monotonic() >= self.deadline:
                        return self.hand_back()
                    continue
                self.step(count)
                if time.monotonic() >= self.deadline and self.batch.done < self.batch.total:
                    return self.hand_back()
            self.rest(BatchStatus.FINISHED, "")
        except Stop:
            return True
        return True  # unreachable: rest() raises

    def due(self) -> int:
        """How many items to start now (0 after a short nap when none is due yet)."""
        batch = self.batch
        size = max(1, min(int(settings.DEADLETTER_REPLAY_CHUNK), self.fits or batch.total))
        left = batch.total - batch.done
        if batch.canary and batch.done < batch.canary:
            left = min(left, batch.canary - batch.done)  # the canary is judged on its own
        if not batch.rate:
            return min(size, left)
        assert batch.anchor_at is not None
        now = timezone.now()
        elapsed = (now - batch.anchor_at).total_seconds()
        count = batch.anchor_done + math.floor(elapsed * batch.rate) + 1 - batch.done
        if count > batch.rate * CATCH_UP_SECONDS + 1:
            self._anchor(now)
            elapsed, count = 0.0, 1
        # Items go in groups of a tick's worth: a chunk's fixed cost (claims, bookkeeping)
        # is shared, and the rate holds over any tick. Behind schedule, a chunk takes all
        # that is due (up to a chunk), to catch up within the second allowed.
        group = min(left, max(1, math.ceil(batch.rate * CHUNK_SECONDS)))
        if count < group:
            wait = (batch.done + group - 1 - batch.anchor_done) / batch.rate - elapsed
            time.sleep(max(0.0, min(wait, NAP_SECONDS, self.deadline - time.monotonic())))
            return 0
        return min(count, left, size)

    def step(self, count: int) -> None:
        batch = self.batch
        ids = batch.dead_letter_ids[batch.done:batch.done + count]
        started, t0 = timezone.now(), time.monotonic()
        done: list[int] = []
        records: list[Any] = []
        # If a part raises (the database refused the claim), the progress saved before it
        # stands; the task fails, the lease lapses and the sweeper resumes the batch there.
        with contextlib.closing(replay_parts(
            ids, batch.created_by, source=batch.source, log=f"Replayed in batch {batch.pk}",
            destination=self.destination, include_superseded=batch.include_superseded,
        )) as parts:
            for part, part_records in parts:
                done += part
                records += part_records
                if len(done) < len(ids) and time.monotonic() >= self.next_check:
                    self.record(done, records, started)
                    done, records = [], []
                    self.check()  # a pause asked meanwhile stops here: the rest is never claimed
        if done:
            self.record(done, records, started)
        self.fit((time.monotonic() - t0) / len(ids))

    def record(self, ids: list[int], records: list[Any], started: datetime) -> None:
        """The report rows and counters of these items (the next ones of the batch), with
        the lease renewed, in one transaction that proves the claim; then the judgements."""
        batch = self.batch
        by_id = {record.dead_letter_id: record for record in records}
        items = [_item(batch, batch.done + n, pk, by_id.get(pk), started) for n, pk in enumerate(ids)]
        counts = {"ok": 0, "failed": 0, "skipped": 0, "superseded": 0}
        for item in items:
            counts[_bucket(item.outcome)] += 1
        lease = timezone.now() + timedelta(seconds=lease_seconds())
        with transaction.atomic():
            updated = self._mine().update(
                done=batch.done + len(ids), lease_expires_at=lease,
                **{name: getattr(batch, name) + n for name, n in counts.items()},
            )
            if updated != 1:
                raise Stop  # our lease lapsed and another run took over: it redoes these items
            BatchItem.objects.bulk_create(items)
        crossed_canary = batch.canary and batch.done < batch.canary <= batch.done + len(ids)
        self.lease = lease
        # What the UPDATE wrote, in memory: no read back.
        batch.done += len(ids)
        batch.lease_expires_at = lease
        for name, n in counts.items():
            setattr(batch, name, getattr(batch, name) + n)
        if self.on_items is not None:
            self.on_items(items)
        if crossed_canary:
            self.judge_canary()
        else:
            self.judge_window()

    def judge_canary(self) -> None:
        batch = self.batch
        failed = batch.items.filter(position__lt=batch.canary, outcome__in=FAILED_OUTCOMES).count()
        if failed:
            self.rest(BatchStatus.PAUSED, f"canary: {failed} of the first {batch.canary} failed; "
                      "look at them, then resume or cancel")

    def judge_window(self) -> None:
        """The automatic pause: the failure ratio of the last items replayed since the
        batch started or was resumed, once there are enough of them to judge."""
        batch = self.batch
        size = int(settings.DEADLETTER_BATCH_FAILURE_WINDOW)
        ratio = float(settings.DEADLETTER_BATCH_FAILURE_RATIO)
        if ratio <= 0 or batch.done - batch.window_start < size:
            return
        last = list(batch.items.filter(position__gte=batch.window_start, outcome__in=(*OK_OUTCOMES, *FAILED_OUTCOMES))
                    .order_by("-position").values_list("outcome", flat=True)[:size])
        failed = sum(1 for outcome in last if outcome in FAILED_OUTCOMES)
        if len(last) == size and failed / size >= ratio:
            self.rest(BatchStatus.PAUSED, f"automatic: {failed} of the last {size} replays failed "
                      f"(threshold {ratio:.0%}); look at them, then resume or cancel")

    def hand_back(self) -> bool:
        """Time is up: back to the queue, keeping the pace anchor (the next run goes on at
        the same rate). False: the caller queues the next run."""
        updated = self._mine().filter(requested="").update(status=BatchStatus.QUEUED, lease_expires_at=None)
        if updated != 1:
            with contextlib.suppress(Stop):
                self.check()
            return True
        return False


def run(batch: ReplayBatch, *, budget_seconds: float | None = None, on_items: OnItems | None = None) -> bool:
    """Work on the batch for at most `budget_seconds` (default DEADLETTER_BATCH_TASK_SECONDS).
    True when it is at rest (finished, paused, cancelled) or another run has it."""
    budget = settings.DEADLETTER_BATCH_TASK_SECONDS if budget_seconds is None else budget_seconds
    done = Runner(batch, budget, on_items).run()
    batch.refresh_from_db()
    return done


def _bucket(outcome: str) -> str:
    if outcome in OK_OUTCOMES:
        return "ok"
    if outcome in FAILED_OUTCOMES:
        return "failed"
    return "superseded" if outcome == "superseded" else "skipped"


def _item(batch: ReplayBatch, position: int, pk: int, record: Any, started: datetime) -> BatchItem:
    item = BatchItem(batch=batch, position=position, dead_letter_id=pk, started_at=started)
    if record is None:
        item.outcome, item.error = "skipped", "no such dead letter (cleaned up?)"
        return item
    dead_letter = record.dead_letter
    item.outcome, item.topic, item.shop_domain = record.outcome, dead_letter.topic[:100], dead_letter.shop_domain[:255]
    line = record.error.split("\n", 1)[0]
    if record.outcome in FAILED_OUTCOMES:
        # The class only: the message may quote a customer (the dead letter keeps it).
        item.error_class = line.split(": ", 1)[0][:255]
    elif record.outcome == "superseded":
        item.superseded_by = staleness.newer_event_in(record.summary)
    else:
        item.error = line[:300]
    return item
