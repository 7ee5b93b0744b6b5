"""Every mode readable: axe-core's colour-contrast rule (WCAG AA) run inside the page, in
light and dark mode, on the pages support staff use; the 420 px layout; a favicon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import SCREENSHOTS
from tests.browser.scene import CHANGELIST
from timedify_ops import jobs
from timedify_ops.schedules import setup_schedules

# axe-core as shipped inside the axe-playwright-python wheel (requirements-dev.txt): no
# browser or network download, the script is injected into the page under test.
AXE = Path(__import__("axe_playwright_python").__file__).with_name("axe.min.js")
ROWS = "#result_list tbody tr"
TAP = 44


def contrast_failures(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {runOnly: {type: 'rule', values: ['color-contrast']}})")
    return [f"{node['target']}: {node['any'][0]['message'] if node['any'] else ''}"
            for violation in result["violations"] for node in violation["nodes"]]


def shoot(page: Any, name: str, width: float, height: float, top: float = 0) -> None:
    """A picture of this test's own page (the `screenshot` fixture takes the default page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True,
                    clip={"x": 0, "y": top, "width": width, "height": height})


@pytest.mark.parametrize("mode", ["light", "dark", "dark-by-toggle"])
def test_every_page_meets_wcag_aa_contrast(live_server, scene, browser, superuser, mode):
    context = browser.new_context(viewport={"width": 1400, "height": 900},
                                  color_scheme="light" if mode == "light" else "dark")
    if mode == "dark-by-toggle":  # the admin's own theme button, stored by the admin's script
        context.add_init_script("localStorage.setItem('theme', 'dark')")
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root-admin")
    page.fill("#id_password", "browser-test-password-1")
    page.click("input[type=submit]")
    setup_schedules()
    jobs.execute("health_check", trigger="command", targets=[])
    dead = scene.dead_letter(1001)
    pages = {
        "index": "/admin/",
        "dead letters": CHANGELIST,
        "dead letter": f"{CHANGELIST}{dead.pk}/change/",
        "error groups": f"{CHANGELIST}groups/",
        "events": "/admin/webhooks/webhookevent/",
        "event": f"/admin/webhooks/webhookevent/{dead.event_id}/change/",
        "schedules": "/admin/django_q/schedule/",
        "dashboard": "/admin/ops/dashboard/",
    }
    failures = {}
    background = "rgb(255, 255, 255)" if mode == "light" else "rgb(18, 18, 18)"  # the mode is really on
    for name, path in pages.items():
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("#content")).to_be_visible()
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background, name
        if found := contrast_failures(page):
            failures[name] = found
    if mode == "dark":
        page.goto(f"{live_server.url}{CHANGELIST}{dead.pk}/change/")
        # The payload, not the traceback: a traceback names files of the machine that ran it.
        payload = page.locator("fieldset:has(.field-payload_pretty)").bounding_box()
        assert payload is not None
        shoot(page, "dark-mode-payload", 1400, payload["height"] + 20, top=payload["y"] - 10)
    context.close()
    assert failures == {}, failures


def test_the_dead_letter_list_fits_420_px_with_filters_first_and_44_px_targets(live_server, scene, browser, superuser):
    context = browser.new_context(viewport={"width": 420, "height": 900}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root-admin")
    page.fill("#id_password", "browser-test-password-1")
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}{CHANGELIST}")
    expect(page.locator(ROWS)).to_have_count(5)
    # No sideways scrolling, and each row shows its shop and its error.
    assert page.evaluate("document.documentElement.scrollWidth") <= 420
    for row in page.locator(ROWS).all():
        for cell in ("td.field-shop_domain", "td.field-error_class_short"):
            box = row.locator(cell).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 420, cell
    # The filters come before the list.
    filters = page.locator("#changelist-filter").bounding_box()
    table = page.locator("#result_list").bounding_box()
    assert filters is not None and table is not None and filters["y"] < table["y"]
    small = page.evaluate(f"""() => [...document.querySelectorAll(
        '#content a, #content input[type=submit], #content button, #content select, #content .button')]
        .filter(el => el.offsetParent !== null)
        .map(el => [el.outerHTML.slice(0, 80), el.getBoundingClientRect().height])
        .filter(([_, h]) => h < {TAP})""")
    assert small == [], small
    shoot(page, "dead-letters-420px", 420, 900)
    context.close()


def test_every_page_has_a_favicon(live_server, page, login, superuser):
    login("root-admin")
    href = page.locator("link[rel=icon]").get_attribute("href")
    assert href is not None
    response = page.request.get(f"{live_server.url}{href}")
    assert response.status == 200 and response.headers["content-type"].startswith("image/svg+xml")
