"""django-q2 entry points. Thin: the work is in deadletters.batches."""

from __future__ import annotations

from deadletters.batches import ReplayBatch


def run_replay_batch(batch_id: int) -> str:
    """Work on a replay batch for a bounded time; enqueue a follow-up task for the rest."""
    batch = ReplayBatch.objects.filter(pk=batch_id).first()
    if batch is None:
        return f"replay batch {batch_id} no longer exists"
    finished = batch.run()
    batch.refresh_from_db()
    if not finished:
        batch.enqueue()
    return f"replay batch {batch_id}: {batch.done}/{batch.total} done, {batch.ok} ok, {batch.failed} failed"
