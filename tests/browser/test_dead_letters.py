"""Support staff find, read, replay, dry-run and resolve dead letters in a real browser."""

from __future__ import annotations

import re

from django.contrib.admin.models import LogEntry
from playwright.sync_api import expect

from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter
from deadletters.tests.factories import TOPIC, run_queued_tasks
from tests.browser.scene import ACME, CHANGELIST, NORTH, search
from webhooks.models import WebhookEvent

ROWS = "#result_list tbody tr"


def test_it_finds_a_shops_dead_letters_by_search_and_narrows_by_filter(live_server, scene, support, screenshot):
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}")
    expect(page.locator(ROWS)).to_have_count(5)

    page.fill("#searchbar", "acme-shoes")
    page.press("#searchbar", "Enter")
    expect(page.locator(ROWS)).to_have_count(3)
    screenshot("dead-letters-search")
    for row in page.locator(ROWS).all():
        expect(row).to_contain_text(ACME)
        expect(row).to_contain_text("upstream refused order")

    page.goto(f"{live_server.url}{CHANGELIST}")
    # No shop list in the sidebar (thousands of shops in production): the search box takes
    # a whole domain too, and the sidebar filters narrow the search further.
    expect(page.locator("#changelist-filter details", has_text="By shop domain")).to_have_count(0)
    search(page, NORTH)
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator(ROWS).filter(has_text="PayloadInvalid")).to_contain_text("app/scopes_update")
    page.locator("#changelist-filter details", has_text="By topic").get_by_role("link", name="tests/flaky").click()
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("upstream refused order 2001 (HTTP 502)")
    expect(page.locator(ROWS)).to_contain_text("Open")

    page.get_by_role("link", name="Error groups").click()
    groups = page.locator("#error-groups tbody tr")
    expect(groups).to_have_count(2)
    expect(groups.filter(has_text="RuntimeError")).to_contain_text("4")

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    expect(page.locator(ROWS)).to_have_count(6)
    expect(page.locator(ROWS).filter(has_text="processed")).to_have_count(1)


def test_it_shows_the_traceback_and_the_payload_of_a_dead_letter(live_server, scene, support, screenshot):
    page = support
    dead_letter = scene.dead_letter(1002)
    page.goto(f"{live_server.url}{CHANGELIST}?q=acme-shoes")
    page.locator(ROWS).filter(has_text="order 1002").get_by_role("link", name=str(dead_letter.pk)).click()
    expect(page).to_have_url(re.compile(rf"/deadletter/{dead_letter.pk}/change/"))
    expect(page.locator(".field-error_message")).to_contain_text("upstream refused order 1002 (HTTP 502)")
    traceback = page.locator(".field-traceback_pre pre")
    expect(traceback).to_contain_text("Traceback (most recent call last)")
    expect(traceback).to_contain_text("in flaky_handler")
    expect(traceback).to_contain_text("RuntimeError: upstream refused order 1002 (HTTP 502)")
    payload = page.locator(".field-payload_pretty pre")
    expect(payload).to_contain_text('"id": 1002')
    expect(payload).to_contain_text('"email": "buyer-1002@example.com"')
    attempts = page.locator(".field-attempt_table tbody tr")
    expect(attempts).to_have_count(1)
    expect(attempts).to_contain_text("failed")
    page.locator(".field-traceback_pre").scroll_into_view_if_needed()
    screenshot("dead-letter-traceback")  # names files of this machine: an artifact, not for docs/

    page.get_by_role("link", name=re.compile(r"webhook ID")).click()
    expect(page.locator(".field-status_badge")).to_contain_text("Dead")
    expect(page.locator(".field-payload_pretty pre")).to_contain_text('"id": 1002')
    expect(page.locator(".field-headers_pretty pre")).to_contain_text("[redacted]")
    expect(page.locator(".field-attempt_timeline")).to_contain_text("RuntimeError: upstream refused order 1002")


def test_it_replays_one_and_shows_it_resolved_and_the_event_processed(live_server, scene, support, flaky, screenshot):
    page = support
    dead_letter = scene.dead_letter(1001)
    page.goto(f"{live_server.url}{CHANGELIST}{dead_letter.pk}/change/")
    expect(page.locator(".field-status_badge")).to_contain_text("Open")
    flaky.fail = False  # the upstream is back

    page.click("#replay-button")
    expect(page.locator("#confirm-count")).to_have_text("1")
    expect(page.locator("#content")).to_contain_text("upstream refused order 1001")
    screenshot("replay-confirmation")
    page.get_by_role("button", name="Yes, replay them").click()

    expect(page.locator(".messagelist")).to_contain_text("1 dead letter replayed: resolved.")
    expect(page.locator(".field-status_badge")).to_contain_text("Resolved")
    expect(page.locator(".field-event_link")).to_contain_text("processed")
    expect(page.locator(".field-replay_table tbody tr")).to_contain_text("Succeeded")
    expect(page.locator("#replay-button")).to_have_count(0)  # nothing left to replay
    page.get_by_role("link", name=re.compile(r"webhook ID")).click()
    expect(page.locator(".field-status_badge")).to_contain_text("Processed")
    expect(page.locator(".field-attempt_timeline tbody tr")).to_have_count(2)
    assert WebhookEvent.objects.get(pk=dead_letter.event_id).status == "processed"


def test_it_bulk_replays_a_filtered_set_in_the_background_and_shows_progress_to_100(
    live_server, scene, support, flaky, deliver_live, settings, screenshot
):
    settings.DEADLETTER_INLINE_REPLAY_LIMIT = 3
    more = [deliver_live({"id": order}, topic=TOPIC, shop=ACME) for order in range(1004, 1009)]
    assert run_queued_tasks() == 5  # 8 open for acme in all, above the limit
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}")
    search(page, ACME)
    expect(page.locator(ROWS)).to_have_count(8)
    page.click("#replay-matching")
    expect(page.locator("#confirm-count")).to_have_text("8")
    flaky.fail = False
    flaky.fail_orders = {1003}  # one still fails: the report says which
    page.get_by_role("button", name="Yes, replay them").click()

    expect(page.locator(".messagelist")).to_contain_text("Replaying 8 dead letters in the background.")
    expect(page.locator("#batch-done")).to_have_text("0 / 8")
    expect(page.locator("#batch-progress")).to_contain_text("refreshes itself")
    screenshot("batch-progress-queued")

    # The worker's share, from the test thread: the queued batch task runs against the same database.
    assert run_queued_tasks() >= 1
    # No reload here: the page refreshes itself until the batch is finished.
    expect(page.locator("#batch-done")).to_have_text("8 / 8", timeout=10_000)
    expect(page.locator("#batch-progress")).to_contain_text("(100 %)")
    expect(page.locator("#batch-ok")).to_have_text("7 resolved")
    expect(page.locator("#batch-failed")).to_have_text("1 failed again")
    report = page.locator("#batch-report tbody tr")
    expect(report).to_have_count(8)
    # Failures first; the report names the error's class, not its text (which can quote a
    # customer), and links the dead letter.
    expect(report.first).to_contain_text("RuntimeError")
    failed_row = report.filter(has_text="RuntimeError")
    expect(failed_row).to_have_count(1)
    expect(failed_row.get_by_role("link")).to_have_text(str(scene.dead_letter(1003).pk))
    expect(page.locator("#batch-badge")).to_have_text("some failed")
    screenshot("batch-progress")

    batch = ReplayBatch.objects.get()
    assert batch.status == "finished"
    resolved = DeadLetter.objects.filter(status="resolved")
    assert {d.event_id for d in resolved} == {scene.dead_letter(1001).event_id, scene.dead_letter(1002).event_id, *more}
    assert DeadLetter.objects.get(pk=scene.dead_letter(1003).pk).status == "open"
    assert DeadLetter.objects.get(pk=scene.dead_letter(2001).pk).replay_count == 0  # other shop untouched


def test_it_dry_runs_and_changes_nothing(live_server, scene, support, flaky, screenshot):
    page = support
    flaky.fail = False
    flaky.fail_orders = {2001}
    page.goto(f"{live_server.url}{CHANGELIST}")
    search(page, NORTH)
    page.locator(ROWS).filter(has_text="order 2001").locator("input.action-select").check()
    page.locator(ROWS).filter(has_text="PayloadInvalid").locator("input.action-select").check()
    page.select_option("select[name=action]", label="Dry-run replay (changes nothing)")
    page.get_by_role("button", name="Go").click()
    expect(page.locator("#confirm-count")).to_have_text("2")
    page.get_by_role("button", name="Yes, dry-run").click()

    results = page.locator("#dry-run-results tbody tr")
    expect(results).to_have_count(2)
    expect(results.filter(has_text="tests/flaky")).to_contain_text("fail")
    expect(results.filter(has_text="tests/flaky")).to_contain_text("upstream refused order 2001")
    expect(results.filter(has_text="app/scopes_update")).to_contain_text("PayloadInvalid")
    expect(page.locator("#content")).to_contain_text("Nothing was changed")
    screenshot("dry-run-results")

    flaky.fail_orders = set()
    page.goto(f"{live_server.url}{CHANGELIST}{scene.dead_letter(1003).pk}/change/")
    page.get_by_role("button", name="Dry run…").click()
    page.get_by_role("button", name="Yes, dry-run").click()
    expect(page.locator("#dry-run-results tbody tr")).to_contain_text("succeed")
    page.get_by_role("link", name=str(scene.dead_letter(1003).pk)).click()
    expect(page.locator(".field-status_badge")).to_contain_text("Open")
    expect(page.locator(".field-replay_table tbody tr")).to_contain_text("dry run")
    expect(page.locator(".field-replay_count")).to_contain_text("0")
    for order in (1003, 2001, 8):
        dead_letter = DeadLetter.objects.get(pk=scene.dead_letter(order).pk)
        assert (dead_letter.status, dead_letter.replay_count, dead_letter.event.status) == ("open", 0, "dead")


def test_it_resolves_with_a_note_and_asks_for_the_note_when_empty(live_server, scene, support, screenshot):
    page = support
    dead_letter = scene.dead_letter(8)
    page.goto(f"{live_server.url}{CHANGELIST}{dead_letter.pk}/change/")
    page.get_by_role("button", name="Resolve…").click()
    expect(page.locator("#confirm-count")).to_have_text("1")
    note = page.locator("#id_note")

    # Empty: the browser itself will not send the form.
    page.get_by_role("button", name="Yes, resolve it").click()
    assert note.evaluate("el => el.validity.valueMissing") is True
    expect(note).to_be_visible()
    # Blanks only: the server asks for a real note.
    note.fill("   ")
    page.get_by_role("button", name="Yes, resolve it").click()
    expect(page.locator(".errornote")).to_have_text("A note is required.")
    assert DeadLetter.objects.get(pk=dead_letter.pk).status == "open"

    page.locator("#id_note").fill("Scopes re-granted by the merchant; the next update arrived fine.")
    screenshot("resolve-with-note")
    page.get_by_role("button", name="Yes, resolve it").click()
    expect(page.locator(".messagelist")).to_have_text("1 dead letter resolved.")
    expect(page.locator(".field-status_badge")).to_contain_text("Resolved")
    expect(page.locator(".field-note")).to_contain_text("Scopes re-granted by the merchant")
    expect(page.locator(".field-resolved_by_name")).to_have_text(re.compile("sam-support"))
    expect(page.locator(".field-resolved_by_name a")).to_have_count(0)  # a name, not a link Support cannot open
    page.get_by_role("link", name="History").click()
    expect(page.locator("#change-history")).to_contain_text("Resolved with a note.")  # the note stays on the dead letter
    expect(page.locator("#change-history")).not_to_contain_text("Scopes re-granted")
    # The log line names the dead letter (and points at it); the note is on its page above.
    entry = LogEntry.objects.get(object_id=str(dead_letter.pk), change_message="Resolved with a note.")
    assert entry.object_repr == str(DeadLetter.objects.get(pk=dead_letter.pk))
