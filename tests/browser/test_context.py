"""Pages keep their context: after an action, "No, take me back" or a dry run's Back, the
operator is where they were (the filtered list, the error groups, the dead letter's page);
a confirmation URL opened again leads back with a message; closing can be undone."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

from playwright.sync_api import expect

from deadletters.models import DeadLetter
from tests.browser.scene import ACME, CHANGELIST

ROWS = "#result_list tbody tr"


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def filtered_list(page, live_server) -> dict[str, list[str]]:
    """ACME's open dead letters of the flaky topic, reached by search and a sidebar filter."""
    page.goto(f"{live_server.url}{CHANGELIST}")
    page.fill("#searchbar", "acme-shoes")
    page.press("#searchbar", "Enter")
    page.locator("#changelist-filter details", has_text="By topic").get_by_role("link", name="tests/flaky").click()
    expect(page.locator(ROWS)).to_have_count(3)
    return query_of(page.url)


def choose(page, label: str, *orders: int) -> None:
    for order in orders:
        page.locator(ROWS).filter(has_text=f"order {order}").locator("input.action-select").check()
    page.select_option("select[name=action]", label=label)
    page.get_by_role("button", name="Go").click()


def test_it_returns_to_the_filtered_list_after_resolve_and_after_take_me_back(live_server, scene, support):
    page = support
    where = filtered_list(page, live_server)
    choose(page, "Resolve (with a note)", 1001)
    expect(page.locator("#confirm-count")).to_have_text("1")
    page.get_by_role("link", name="No, take me back").click()
    expect(page.locator(ROWS)).to_have_count(3)
    assert query_of(page.url) == where

    choose(page, "Resolve (with a note)", 1001, 1003)
    page.fill("#id_note", "Orders re-sent by the merchant.")
    page.get_by_role("button", name="Yes, resolve them").click()
    expect(page.locator(".messagelist")).to_have_text("2 dead letters resolved.")
    assert query_of(page.url) == where
    expect(page.locator(ROWS)).to_have_count(1)  # still the open ones of that filter


def test_it_returns_to_the_filtered_list_after_replay_all_matching_and_dry_run(live_server, scene, support, flaky):
    page = support
    where = filtered_list(page, live_server)
    choose(page, "Dry-run replay (changes nothing)", 1002)
    page.get_by_role("button", name="Yes, dry-run").click()
    expect(page.locator("#dry-run-results tbody tr")).to_have_count(1)
    page.locator("#dry-run-back").click()
    assert query_of(page.url) == where

    flaky.fail = False
    page.click("#replay-matching")
    expect(page.locator("#confirm-count")).to_have_text("3")
    expect(page.locator("body")).not_to_have_class(re.compile("delete-confirmation"))  # not a red, destructive page
    page.get_by_role("button", name="Yes, replay them").click()
    expect(page.locator(".messagelist")).to_have_text("3 dead letters replayed: 3 resolved.")
    assert query_of(page.url) == where
    expect(page.locator(ROWS)).to_have_count(0)


def test_it_returns_to_the_error_groups_after_a_group_replay(live_server, scene, support, flaky):
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}groups/")
    flaky.fail = False
    page.locator("#error-groups tbody tr", has_text="RuntimeError").get_by_role("button", name="Replay group…").click()
    expect(page.locator("#confirm-count")).to_have_text("4")
    page.get_by_role("button", name="Yes, replay them").click()
    expect(page).to_have_url(f"{live_server.url}{CHANGELIST}groups/")
    expect(page.locator(".messagelist")).to_have_text("4 dead letters replayed: 4 resolved.")
    expect(page.locator("#error-groups tbody tr")).to_have_count(1)  # the PayloadInvalid group is left


def test_it_answers_a_reloaded_confirmation_url_with_the_list_and_a_message(live_server, scene, support):
    page = support
    response = page.goto(f"{live_server.url}{CHANGELIST}groups/replay/")
    assert response is not None and response.status == 200
    expect(page).to_have_url(f"{live_server.url}{CHANGELIST}")
    expect(page.locator(".messagelist")).to_contain_text("Nothing was changed")
    # A pasted "replay all matching" link: back to the list it was filtered by.
    response = page.goto(f"{live_server.url}{CHANGELIST}replay-matching/?q={ACME}")
    assert response is not None and response.status == 200
    assert query_of(page.url) == {"q": [ACME]}
    expect(page.locator(".messagelist")).to_contain_text("Nothing was changed")
    expect(page.locator(ROWS)).to_have_count(3)
    assert DeadLetter.objects.filter(replay_count__gt=0).count() == 0


def test_it_reopens_a_resolved_dead_letter_with_a_note_and_logs_it(live_server, scene, support):
    page = support
    dead_letter = scene.dead_letter(2001)
    page.goto(f"{live_server.url}{CHANGELIST}{dead_letter.pk}/change/")
    page.get_by_role("button", name="Ignore…").click()
    page.fill("#id_note", "A test shop.")
    page.get_by_role("button", name="Yes, ignore it").click()
    expect(page.locator("#verdict")).to_contain_text("Ignored")
    expect(page.locator("#verdict")).to_contain_text("A test shop.")

    page.get_by_role("button", name="Reopen…").click()
    expect(page.locator("#content")).to_contain_text("Open these dead letters again")
    page.get_by_role("button", name="Yes, reopen it").click()
    expect(page.locator(".errornote")).to_have_count(0)  # the browser asks for the note first
    page.fill("#id_note", "It is a real shop after all.")
    page.get_by_role("button", name="Yes, reopen it").click()
    expect(page.locator(".messagelist")).to_have_text("1 dead letter reopened.")
    expect(page).to_have_url(re.compile(rf"/deadletter/{dead_letter.pk}/change/"))
    expect(page.locator(".field-status_badge")).to_contain_text("Open")
    expect(page.locator(".field-note")).to_contain_text("It is a real shop after all.")
    expect(page.locator("#replay-button")).to_be_visible()
    page.get_by_role("link", name="History").click()
    expect(page.locator("#change-history")).to_contain_text("Reopened with a note.")
    assert DeadLetter.objects.get(pk=dead_letter.pk).status == "open"
