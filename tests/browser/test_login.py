"""A person logs in to the console in a real browser."""

from __future__ import annotations

from playwright.sync_api import expect


def test_it_logs_a_superuser_in_and_shows_the_admin(page, live_server, login, superuser, screenshot):
    login("root-admin")
    expect(page.locator("#site-name")).to_be_visible()
    expect(page.get_by_role("link", name="Log out").or_(page.get_by_role("button", name="Log out"))).to_be_visible()
    screenshot("admin-index-empty")


def test_it_refuses_a_wrong_password_with_a_readable_message(page, live_server, superuser):
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "root-admin")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_contain_text("correct username and password")
