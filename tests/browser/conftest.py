"""Real-browser fixtures: Playwright driving Debian's Chromium against a live server.

Never downloads a browser. Without Chromium the browser tests skip locally and FAIL under
CI=true. Screenshots go to test-artifacts/screenshots/ (the best are copied to docs/).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.scene import build

# Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
# synchronous and safe (the live server answers from its own thread).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
# Without these flags Chromium keeps trying to reach Google's services from a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
PASSWORD = "browser-test-password-1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(15_000)
    # The admin's navigation sidebar collapsed (its own remembered choice): more room for
    # the tables in the screenshots.
    context.add_init_script("localStorage.setItem('django.admin.navSidebarIsOpen', 'false')")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page: Any) -> Callable[..., Path]:
    """What the person sees without scrolling, cut below the page's content (no empty
    screen under a short page); `clip` takes a region of the page instead (x, y, width,
    height in page pixels)."""

    def take(name: str, *, clip: dict[str, float] | None = None) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        viewport = page.viewport_size
        if clip is None:
            content = page.locator("#content").bounding_box() if page.locator("#content").count() else None
            scrolled = page.evaluate("window.scrollY")
            height = viewport["height"] if content is None else content["y"] + content["height"] + 24
            clip = {"x": 0, "y": scrolled, "width": viewport["width"], "height": min(height, viewport["height"])}
        page.screenshot(path=str(path), full_page=True, clip=clip)
        return path

    return take


@pytest.fixture
def login(page: Any, live_server: Any) -> Callable[[str], Any]:
    """Log in through the real admin login form."""

    def as_user(username: str) -> Any:
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url(f"{live_server.url}/admin/")
        return page

    return as_user


@pytest.fixture(autouse=True)
def fast_logins(settings: Any) -> None:
    # Every test logs in through the form: the production hasher's cost is wasted here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache(transactional_db: None) -> None:
    """The flush between transactional tests empties the tables, not the cache (its own
    table, or Redis): the dashboard's cached SLO figures would come from the previous test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def superuser(transactional_db: None, django_user_model: Any) -> Any:
    return django_user_model.objects.create_superuser("root-admin", "root@example.com", PASSWORD)


@pytest.fixture
def staff(transactional_db: None, django_user_model: Any) -> Callable[[str, str], Any]:
    """A staff user in one of the groups the migration creates (Support, Viewer)."""
    from django.contrib.auth.models import Group

    from deadletters.staff_groups import sync_staff_groups

    # A transactional test flushes the tables after each test; the flush re-runs
    # post_migrate, and this makes sure the groups and their permissions are there.
    sync_staff_groups()

    def make(username: str, group: str) -> Any:
        user = django_user_model.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
        user.groups.add(Group.objects.get(name=group))
        return user

    return make


@pytest.fixture
def flaky(settings: Any) -> Iterator[Any]:
    """The dead-letter tests' handler on the `tests/flaky` topic: fails until the test flips
    `flaky.fail`; no retries, so an event dies on its first failure with a real traceback.
    Registered in this process, so the live server's thread runs it too."""
    from deadletters.tests import factories

    settings.WEBHOOK_RETRY_DELAYS = []
    factories.SWITCH.__init__()  # type: ignore[misc]
    factories.register()
    yield factories.SWITCH
    factories.unregister()


@pytest.fixture
def deliver_live(live_server: Any) -> Callable[..., int]:
    """POST a correctly signed Shopify delivery to the live server, as Shopify would.
    Returns the stored event's id; the server has queued it for the worker."""
    import requests

    from conftest import shopify_headers
    from webhooks.models import WebhookEvent

    def post(payload: dict[str, Any], *, topic: str, shop: str) -> int:
        body = json.dumps(payload).encode()
        headers = shopify_headers(body, topic=topic, shop=shop)
        response = requests.post(f"{live_server.url}/webhooks/shopify/", data=body, headers=headers, timeout=10)
        assert response.status_code == 200, response.text
        return WebhookEvent.objects.get(webhook_id=headers["X-Shopify-Webhook-Id"]).pk

    return post


@pytest.fixture
def scene(flaky: Any, deliver_live: Callable[..., int]) -> Any:
    """The dead letters of tests/browser/scene.py, delivered through the live server."""
    return build(deliver_live)


@pytest.fixture
def support(page: Any, login: Callable[[str], Any], staff: Callable[[str, str], Any]) -> Any:
    """A page logged in as a member of the Support group."""
    staff("sam-support", "Support")
    return login("sam-support")
