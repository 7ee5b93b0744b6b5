"""django-q2 entry points. Thin: the work is in deadletters.batch_run."""

from __future__ import annotations

from deadletters import batch_run
from deadletters.batches import ReplayBatch


def run_replay_batch(batch_id: int) -> str:
    """Work on a replay batch for a bounded time; enqueue a follow-up task for the rest."""
    batch = ReplayBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return f"replay batch {batch_id} no longer exists"
    if not batch_run.run(batch):
        batch.enqueue()
    return f"replay batch {batch_id} {batch.status}: {batch.done}/{batch.total} done, {batch.ok} ok, {batch.failed} failed"
