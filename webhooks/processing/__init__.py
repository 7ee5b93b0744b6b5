"""Processing of stored events: claim, run one attempt, record it, settle the event.

Each job has a module of its own:
- `queue`: broker plumbing (the intake's task, enqueue now, enqueue when due);
- `claims`: who may work on an event (a conditional UPDATE with a lease token);
- `attempt`: one run of a handler, whatever it raises, recorded under the claim;
- `worker`: the worker's task (one attempt, then retry later, wait, or die);
- `replay`: replays and dry runs of dead events;
- `sweeper`: events whose worker died, or whose task was lost.

The names below are the package's public interface; other apps import them from here.
"""

from __future__ import annotations

from webhooks.processing.attempt import AttemptResult
from webhooks.processing.claims import REPLAYABLE, claim, claim_many, holds, release
from webhooks.processing.queue import (
    DELIVERY_TASK,
    TASK,
    delivery_task,
    enqueue,
    queue_is_transactional,
    send_task,
)
from webhooks.processing.replay import dry_run_event, replay_claimed
from webhooks.processing.sweeper import sweep, to_sweep
from webhooks.processing.worker import (
    DEFERRED,
    RETRYING,
    SKIPPED,
    process_delivery,
    process_event,
    process_until_settled,
    wake_waiting,
)

__all__ = [
    "DEFERRED", "DELIVERY_TASK", "REPLAYABLE", "RETRYING", "SKIPPED", "TASK", "AttemptResult", "claim", "claim_many",
    "delivery_task", "dry_run_event", "enqueue", "holds", "process_delivery", "process_event",
    "process_until_settled", "queue_is_transactional", "release", "replay_claimed", "send_task",
    "sweep", "to_sweep", "wake_waiting",
]
