"""Support finds "order #4939 of bluebird-coffee did not sync": by order name, customer
e-mail or a field of the payload, from the shop's page, or by typing part of the shop."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from deadletters.models import DeadLetter
from deadletters.tests.factories import run_queued_tasks
from tests.browser.scene import CHANGELIST, build, search
from webhooks.models import Shop

ROWS = "#result_list tbody tr"
BLUEBIRD = "bluebird-coffee.myshopify.com"
ORDER = {
    "id": 820982911946154508, "name": "#4939", "email": "jon.doe@example.com",
    "customer": {"id": 115310627314723954, "email": "jon.doe@example.com", "tags": "wholesale, vip"},
    "line_items": [{"sku": "ABC-1", "quantity": 1}],
}


@pytest.fixture
def scene(flaky, deliver_live, settings):
    settings.APP_WEBHOOK_URL = ""  # orders/create cannot be forwarded: it dies, as in the support ticket
    built = build(deliver_live)
    deliver_live(ORDER, topic="orders/create", shop=BLUEBIRD)
    deliver_live({**ORDER, "id": 1, "name": "#4940", "email": "ann@example.com", "customer": {"id": 9},
                  "line_items": [{"sku": "XYZ-9"}]}, topic="orders/create", shop=BLUEBIRD)
    assert run_queued_tasks() == 2
    return built


def test_it_finds_a_dead_letter_by_order_name_e_mail_and_a_field(live_server, scene, support, screenshot):
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}")
    expect(page.locator("#searchbar_helptext")).to_contain_text("order name (#4939 or 4939)")
    expect(page.locator("#searchbar_helptext")).to_contain_text("line_items.sku:ABC-1")
    for term in ("#4939", "4939", "JON.DOE@example.com", "line_items.sku:ABC-1", "customer.tags:vip"):
        search(page, term)
        expect(page.locator(ROWS)).to_have_count(1)
        expect(page.locator(ROWS)).to_contain_text(BLUEBIRD)
    expect(page.locator("#searchbar_helptext")).to_contain_text("field search looks at deliveries of the last 7 days")
    screenshot("dead-letters-payload-search")
    page.locator(ROWS).first.locator("th a").click()
    expect(page.locator(".field-payload_pretty pre")).to_contain_text('"#4939"')

    page.goto(f"{live_server.url}/admin/webhooks/webhookevent/")
    search(page, "#4940")
    expect(page.locator(ROWS)).to_have_count(1)
    expect(page.locator(ROWS)).to_contain_text("orders/create")


def test_the_shop_page_links_to_its_open_dead_letters_and_deliveries(live_server, scene, support, screenshot):
    page = support
    shop = Shop.objects.get(domain=BLUEBIRD)
    page.goto(f"{live_server.url}/admin/webhooks/shop/{shop.pk}/change/")
    expect(page.locator("#shop-dead-letters")).to_have_text("Open dead letters: 2 dead letters")
    expect(page.locator("#shop-deliveries")).to_have_text("All deliveries: 2 deliveries")
    screenshot("shop-page")
    page.click("#shop-dead-letters")
    expect(page.locator(ROWS)).to_have_count(2)
    expect(page.locator("#shop-filter-input")).to_have_value(BLUEBIRD)
    page.go_back()
    page.click("#shop-deliveries")
    expect(page.locator(ROWS)).to_have_count(2)


def test_it_narrows_the_dead_letters_to_a_shop_typed_in_part(live_server, scene, support):
    page = support
    page.goto(f"{live_server.url}{CHANGELIST}")
    expect(page.locator(ROWS)).to_have_count(DeadLetter.objects.filter(status="open").count())
    box = page.locator("#shop-filter-input")
    box.press_sequentially("blueb", delay=30)
    # The suggestions come from the console's shop list, as the person types.
    expect(page.locator("#shop-choices option")).to_have_count(1)
    assert page.locator("#shop-choices option").first.get_attribute("value") == BLUEBIRD
    box.fill(BLUEBIRD)
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"shop_domain=bluebird-coffee"))
    expect(page.locator(ROWS)).to_have_count(2)
    page.click("#shop-filter-clear")
    expect(page.locator(ROWS)).to_have_count(DeadLetter.objects.filter(status="open").count())
