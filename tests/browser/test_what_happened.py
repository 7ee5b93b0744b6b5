"""The top of a dead letter's page says what happened and whether a replay can help,
without scrolling at 1400x900, in words for support staff."""

from __future__ import annotations

import re

from django.utils import timezone
from playwright.sync_api import expect

from tests.browser.scene import ACME, CHANGELIST, NORTH
from webhooks.models import Shop

VIEWPORT_HEIGHT = 900


def test_it_shows_what_happened_above_the_fold_with_a_replay_verdict(live_server, scene, support, screenshot):
    page = support
    dead_letter = scene.dead_letter(1002)
    page.goto(f"{live_server.url}{CHANGELIST}{dead_letter.pk}/change/")
    box = page.locator("#what-happened")
    expect(box).to_be_visible()
    expect(page.locator("#what-error")).to_have_text("RuntimeError: upstream refused order 1002 (HTTP 502)")
    expect(box).to_contain_text("after 1 attempt")
    expect(page.locator("#what-replays")).to_have_text("not yet")
    expect(page.locator("#what-received")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC \((just now|.+ ago)\)$"))
    expect(page.locator("#what-shop")).to_contain_text(f"{ACME}: installed (since")
    expect(page.locator("#verdict")).to_contain_text("A replay is likely to work once the destination is back.")
    expect(page.locator("#verdict")).to_contain_text("answered HTTP 502")
    expect(page.locator("#replay-button")).to_have_class(re.compile(r"\bdefault\b"))  # the suggested action
    # The box and its buttons fit in the first screen, above the traceback and the payload.
    bottom = page.evaluate("document.querySelector('#actions').getBoundingClientRect().bottom")
    assert bottom <= VIEWPORT_HEIGHT, f"the actions end at {bottom}px, below the fold"
    traceback_top = page.locator(".field-traceback_pre").bounding_box()
    payload_top = page.locator(".field-payload_pretty").bounding_box()
    assert traceback_top is not None and payload_top is not None
    assert bottom < traceback_top["y"] < payload_top["y"]
    # Fields without a value are left out: never replayed, never closed.
    for empty in ("last_replayed_at", "last_replay_error", "resolved_by_name", "resolved_at", "note"):
        expect(page.locator(f".field-{empty}")).to_have_count(0)
    screenshot("dead-letter-what-happened", clip={"x": 0, "y": 0, "width": 1400, "height": traceback_top["y"] + 4})


def test_it_says_a_permanent_error_will_fail_again_and_offers_ignore(live_server, scene, support):
    page = support
    Shop.objects.filter(domain=NORTH).update(installed=False, uninstalled_at=timezone.now())
    page.goto(f"{live_server.url}{CHANGELIST}{scene.dead_letter(8).pk}/change/")
    expect(page.locator("#what-error")).to_contain_text("PayloadInvalid")
    expect(page.locator("#verdict")).to_contain_text("A replay will fail again.")
    expect(page.locator("#verdict")).to_contain_text("unless the data changed")
    expect(page.locator("#ignore-button")).to_have_class(re.compile(r"\bdefault\b"))
    expect(page.locator("#replay-button")).not_to_have_class(re.compile(r"\bdefault\b"))
    expect(page.locator("#what-shop")).to_contain_text(f"{NORTH}: uninstalled (since")
    # Help for support staff, not for the developer who wrote the model.
    expect(page.locator(".field-replay_count .help")).to_have_text("How many times someone replayed it.")
