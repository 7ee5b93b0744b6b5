"""Handlers whose every run is counted: one row per run in reliability_side_effect.

The row is written inside the processing transaction, like any handler's database work:
a run that commits leaves exactly one row, a run that is killed or loses its claim
leaves none. A count above 1 for an event means it was processed twice.
"""

from __future__ import annotations

import os
import time

from django.db import connection

from tests.reliability.sideeffect.schema import TABLE
from webhooks.errors import PermanentError
from webhooks.handlers import HandlerContext, handler


@handler("reliability/record")
def record(ctx: HandlerContext) -> str:
    # A little work, so a kill -9 lands in the middle of some runs.
    time.sleep(int(os.environ.get("RELIABILITY_HANDLER_SLEEP_MS", "0")) / 1000)
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (event_pk, webhook_id) VALUES (%s, %s)", [ctx.event.pk, ctx.event.webhook_id])  # noqa: S608
    return "recorded"


@handler("reliability/fail")
def fail(ctx: HandlerContext) -> str:
    raise PermanentError("this topic always fails (reliability scenario)")


def record_schedule_run(name: str) -> str:
    """A scheduled task that counts its runs (scale-out scenario)."""
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {TABLE} (event_pk, webhook_id) VALUES (0, %s)", [f"schedule:{name}"])  # noqa: S608
    return f"ran {name}"
