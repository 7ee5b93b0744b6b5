"""The on-call engineer runs the health check now, reads its run, and reads the dashboard."""

from __future__ import annotations

import re

from django_q.models import Schedule
from playwright.sync_api import expect

from tests.browser.scene import build
from timedify_ops import jobs
from timedify_ops.models import JobRun
from timedify_ops.schedules import setup_schedules

ROWS = "#result_list tbody tr"


def test_it_runs_the_health_check_now_and_shows_the_run_in_its_history(
    live_server, page, login, superuser, settings, screenshot
):
    # One HTTP target: this very server's /health, fetched by the job over the loopback.
    settings.HEALTH_TARGETS = {"console": f"{live_server.url}/health"}
    setup_schedules()
    login("root-admin")
    page.get_by_role("link", name="Scheduled tasks").click()
    expect(page.locator(ROWS).filter(has_text="Health check")).to_have_count(1)
    expect(page.locator(ROWS)).to_have_count(Schedule.objects.count())

    row = page.locator(ROWS).filter(has_text="Health check")
    expect(row).to_contain_text("every 5 minutes")
    expect(row.locator("td.field-last_run")).to_have_text("never")
    row.get_by_role("button", name="Run now").click()
    message = page.locator(".messagelist")
    run = JobRun.objects.get(task="health_check")
    expect(message).to_contain_text(f"Health check: {run.status}: {run.summary}")
    expect(message.get_by_role("link", name=f"health_check run {run.pk}")).to_be_visible()
    # No worker cluster runs in this test: the check says so, and that is the run's result.
    assert run.status == "warning" and run.details["checks"]["target:console"]["ok"]
    expect(row.locator("td.field-last_run")).to_contain_text("Warning")
    screenshot("schedules")

    page.locator(ROWS).filter(has_text="Health check").get_by_role("link", name="runs").click()
    history = page.locator(ROWS)
    expect(history).to_have_count(1)
    expect(history).to_contain_text("health_check")
    expect(history).to_contain_text("Warning")
    expect(history).to_contain_text("admin")
    expect(history).to_contain_text("degraded")
    screenshot("run-history")

    history.get_by_role("link").first.click()
    expect(page.locator(".field-triggered_by")).to_contain_text("root-admin")
    expect(page.locator(".field-task")).to_contain_text("health_check")
    expect(page.locator(".field-summary")).to_contain_text(run.summary)
    details = page.locator(".field-details_pretty pre")
    expect(details).to_contain_text('"database"')
    expect(details).to_contain_text(f"{live_server.url}/health")


def test_it_shows_the_status_strip_and_the_dashboards_charts_and_status(
    live_server, page, login, superuser, flaky, deliver_live
):
    build(deliver_live)  # six deliveries: one processed, five dead letters
    setup_schedules()
    jobs.execute("health_check", trigger="command")
    jobs.execute("alerting_check", trigger="command")
    login("root-admin")

    strip = page.locator("#ops-status-strip")
    expect(strip).to_contain_text(re.compile(r"System health: (UNKNOWN|OK|DEGRADED|DOWN)"))
    expect(strip).to_contain_text("Open dead letters: 5")
    expect(strip).to_contain_text("of 6 events")

    strip.get_by_role("link", name="Open the ops dashboard").click()
    expect(page).to_have_url(f"{live_server.url}/admin/ops/dashboard/")
    overall = page.locator("#ops-overall")
    expect(overall).to_contain_text(re.compile(r"System health: (UNKNOWN|OK|DEGRADED|DOWN)"))
    # No worker cluster in this test: the health run says so, and the dashboard says why.
    expect(overall).to_contain_text("DEGRADED")
    expect(overall.locator("li").first).to_be_visible()
    expect(page.locator(".ops-grid svg")).to_have_count(6)  # volume, errors, latency; 24 h and 7 days
    expect(page.locator("#ops-dashboard")).to_contain_text("6 events, 5 errors")
    dead_letters = page.locator("#dead-letters")
    expect(dead_letters).to_contain_text("tests/flaky")
    expect(dead_letters).to_contain_text("app/scopes_update")
    expect(page.locator("#schedules")).to_contain_text("Health check")
    expect(page.locator("#database")).to_contain_text(re.compile("not available|connections"))
