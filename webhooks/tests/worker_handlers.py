"""Handlers for tests only, on topics under tests/. Loaded into a real qcluster through
WEBHOOK_EXTRA_HANDLER_MODULES=webhooks.tests.worker_handlers; imported directly by tests."""

from __future__ import annotations

import os
import time

from django.utils import timezone

from timedify_ops.models import JobRun
from webhooks.errors import PermanentError
from webhooks.handlers import HandlerContext, handler
from webhooks.models import WebhookEvent

SIDE_EFFECT_TASK = "tests.side_effect"


def side_effect_count(event_id: int) -> int:
    return JobRun.objects.filter(task=SIDE_EFFECT_TASK, summary=f"event {event_id}").count()


@handler("tests/side-effect")
def side_effect(ctx: HandlerContext) -> str:
    # The row insert commits with the processed status, or not at all.
    JobRun.objects.create(task=SIDE_EFFECT_TASK, summary=f"event {ctx.event.pk}", started_at=timezone.now())
    return "one row inserted"


@handler("tests/slow")
def slow(ctx: HandlerContext) -> str:
    JobRun.objects.create(task=SIDE_EFFECT_TASK, summary=f"event {ctx.event.pk}", started_at=timezone.now())
    time.sleep(float(os.environ.get("TEST_SLOW_HANDLER_SECONDS", ctx.event.payload.get("seconds", 1.5))))
    return "slow row inserted"


@handler("tests/always-fails")
def always_fails(ctx: HandlerContext) -> str:
    raise RuntimeError(f"attempt {ctx.attempt} failed on purpose")


@handler("tests/permanent")
def permanent(ctx: HandlerContext) -> str:
    raise PermanentError("this payload can never be processed")


@handler("tests/deleted-meanwhile", atomic=False)
def deleted_meanwhile(ctx: HandlerContext) -> str:
    # Stands in for retention (or anyone) deleting the event while its handler runs.
    WebhookEvent.objects.filter(pk=ctx.event.pk).delete()
    raise RuntimeError("the event went away under the handler")


# What the scripted handler does on each attempt: payload {"script": [...]}, one step per
# attempt (the last repeats). Every way a handler can end, for the property tests.
SCRIPTED_STEPS = ("ok", "exception", "permanent", "system-exit", "keyboard-interrupt", "cancelled", "timeout", "nul",
                  "surrogate", "huge")


def _raise_step(step: str) -> None:
    import asyncio

    from django_q.exceptions import TimeoutException

    errors: dict[str, BaseException] = {
        "exception": RuntimeError("upstream API down (HTTP 503)"),
        "permanent": PermanentError("this payload can never be processed"),
        "system-exit": SystemExit(3),
        "keyboard-interrupt": KeyboardInterrupt(),
        "cancelled": asyncio.CancelledError(),
        "timeout": TimeoutException("Task exceeded maximum timeout value (1 seconds)"),
        "nul": RuntimeError("answer with a NUL \x00 byte"),
        "surrogate": RuntimeError("a lone surrogate \ud800 here"),
        "huge": RuntimeError("x" * 100_000),
    }
    raise errors[step]


@handler("tests/scripted")
def scripted(ctx: HandlerContext) -> str:
    script = ctx.event.payload["script"]
    step = script[min(ctx.attempt - 1, len(script) - 1)]
    if step == "ok":
        JobRun.objects.create(task=SIDE_EFFECT_TASK, summary=f"event {ctx.event.pk}", started_at=timezone.now())
        return "scripted success"
    _raise_step(step)
    raise AssertionError(f"unknown step {step}")
