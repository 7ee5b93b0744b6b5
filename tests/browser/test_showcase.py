"""The console with a week of demo traffic (`make run`'s seed, through the real processing
path): what the on-call engineer sees first. Also takes the screenshots for docs/."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from deadletters.models import DeadLetter
from timedify_ops import demo, jobs
from timedify_ops.schedules import setup_schedules
from webhooks.models import WebhookEvent

ROWS = "#result_list tbody tr"


def fits(page) -> bool:
    """No sideways scrolling at 1400 px: neither the page nor the list's table."""
    return page.evaluate("""() => document.documentElement.scrollWidth <= innerWidth
        && [...document.querySelectorAll('#changelist .results')].every(el => el.scrollWidth <= el.clientWidth)""")


def test_it_shows_a_week_of_traffic_from_the_admin_index_down_to_one_failure(
    live_server, page, login, superuser, screenshot
):
    statuses = demo.seed(240)
    setup_schedules()
    jobs.execute("health_check", trigger="command")
    jobs.execute("alerting_check", trigger="command")
    open_count = DeadLetter.objects.filter(status="open").count()
    assert open_count == statuses["dead"] > 0
    login("root-admin")

    strip = page.locator("#ops-status-strip")
    expect(strip).to_contain_text(f"Open dead letters: {open_count}")
    screenshot("admin-index")

    strip.get_by_role("link", name="Open the ops dashboard").click()
    expect(page.locator(".ops-grid svg")).to_have_count(6)
    expect(page.locator("#ops-overall")).to_contain_text("System health")
    expect(page.locator("#dead-letters")).to_contain_text(f"Open dead letters: {open_count}")
    screenshot("dashboard")
    lower = page.locator("#slo").bounding_box()
    assert lower is not None
    screenshot("dashboard-details", clip={"x": 0, "y": lower["y"] - 10, "width": 1400, "height": 900})

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    expect(page.locator(ROWS)).to_have_count(100)  # a page of the 240, newest first
    expect(page.locator("#changelist-filter")).to_contain_text("By status")
    assert fits(page)
    screenshot("event-list")

    event = next(e for e in WebhookEvent.objects.order_by("-received_at")[:100] if e.status == "processed")
    page.locator(ROWS).filter(has_text=event.webhook_id).get_by_role("link").first.click()
    expect(page.locator(".field-status_badge")).to_contain_text("Processed")
    expect(page.locator(".field-webhook_id")).to_contain_text(event.webhook_id)
    first_key = sorted(event.payload)[0]  # the payload is shown with its keys sorted
    expect(page.locator(".field-payload_pretty pre")).to_contain_text(f'"{first_key}"')
    box = page.locator("fieldset:has(.field-related)").bounding_box()
    assert box is not None
    screenshot("event-detail", clip={"x": 0, "y": box["y"] - 10, "width": 1400, "height": 900})

    page.goto(f"{live_server.url}/admin/")
    page.locator("#ops-status-strip").get_by_role("link", name=re.compile("Open dead letters")).click()
    expect(page.locator(ROWS)).to_have_count(open_count)
    # The filter says what the list shows: the strip's link lands on "Open".
    expect(page.locator("#changelist-filter li.selected").first).to_have_text("Open (waiting for someone)")
    assert fits(page)
    screenshot("dead-letter-list")

    page.get_by_role("link", name="Error groups").click()
    groups = page.locator("#error-groups tbody tr")
    expect(groups).to_have_count(len(list(DeadLetter.objects.error_groups())))
    screenshot("error-groups")

    groups.first.get_by_role("link", name="Show them").click()
    page.locator(ROWS).first.locator("th a").click()
    expect(page.locator(".field-status_badge")).to_contain_text("Open")
    expect(page.locator(".field-traceback_pre pre")).to_contain_text("Traceback (most recent call last)")
    # Up to the traceback, which names files on the machine that ran it.
    top = page.locator(".field-traceback_pre").bounding_box()
    assert top is not None
    screenshot("dead-letter-detail", clip={"x": 0, "y": 0, "width": 1400, "height": top["y"]})
    payload = page.locator("fieldset:has(.field-payload_pretty)").bounding_box()
    history = page.locator(".field-replay_table").bounding_box()
    assert payload is not None and history is not None
    screenshot("dead-letter-payload", clip={"x": 0, "y": payload["y"] - 10, "width": 1400,
                                           "height": history["y"] + history["height"] - payload["y"] + 20})
