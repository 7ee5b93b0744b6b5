"""Support staff steer a bulk replay in a real browser: a rate and a canary at confirmation,
then pause, resume and cancel from the batch's page and from the list of batches."""

from __future__ import annotations

from playwright.sync_api import expect

from deadletters import batch_run
from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter
from deadletters.tests.factories import bulk_dead_letters
from tests.browser.scene import CHANGELIST

BATCHES = "/admin/deadletters/replaybatch/"


def test_it_sets_a_rate_and_a_canary_then_pauses_resumes_and_cancels(live_server, support, flaky, settings, screenshot):
    settings.DEADLETTER_INLINE_REPLAY_LIMIT = 3
    ids = [d.pk for d in bulk_dead_letters(6)]
    flaky.fail = False
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}")
    page.click("#replay-matching")
    expect(page.locator("#confirm-count")).to_have_text("6")
    page.fill("#id_rate", "2")
    page.fill("#id_canary", "2")
    screenshot("batch-confirm-rate-canary")
    page.get_by_role("button", name="Yes, replay them").click()
    expect(page.locator("#batch-badge")).to_have_text("queued")
    batch = ReplayBatch.objects.get()
    assert (batch.rate, batch.canary, batch.origin) == (2.0, 2, "filter")
    expect(page.locator("#batch-origin")).to_contain_text("Everything matching a filter")

    page.click("#batch-pause")  # nothing holds the batch yet: paused at once
    expect(page.locator(".messagelist")).to_contain_text("Paused.")
    expect(page.locator("#batch-badge")).to_have_text("paused")
    expect(page.locator("#batch-pause-reason")).to_contain_text("paused by sam-support")
    batch_run.run(batch)  # the queued task comes round: it finds the batch paused
    assert batch.done == 0

    page.click("#batch-resume")
    expect(page.locator("#batch-badge")).to_have_text("queued")
    batch_run.run(batch, budget_seconds=0.6)  # the worker's share: the first items at 2/s
    assert 0 < batch.done < 6
    page.goto(f"{live_server.url}{BATCHES}")
    page.click(f"#batch-{batch.pk}-cancel")
    expect(page.locator(".messagelist")).to_contain_text("Cancelled")
    page.goto(f"{live_server.url}{BATCHES}{batch.pk}/change/")
    expect(page.locator("#batch-badge")).to_have_text("cancelled")
    expect(page.locator("#batch-history")).to_contain_text("sam-support")
    screenshot("batch-cancelled")
    batch.refresh_from_db()
    rest = batch.dead_letter_ids[batch.done:]
    assert sorted(batch.dead_letter_ids) == sorted(ids)
    assert rest and DeadLetter.objects.filter(pk__in=rest, status="open", replay_lease_expires_at=None).count() == len(rest)
