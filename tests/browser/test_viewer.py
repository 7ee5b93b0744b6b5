"""A Viewer reads everything and changes nothing, in the browser and with a crafted request."""

from __future__ import annotations

from playwright.sync_api import expect

from deadletters.models import DeadLetter
from tests.browser.scene import CHANGELIST, build


def test_it_offers_a_viewer_no_replay_or_resolve_and_refuses_a_crafted_post(
    live_server, page, login, staff, flaky, deliver_live
):
    scene = build(deliver_live)
    staff("vera-viewer", "Viewer")
    login("vera-viewer")
    dead_letter = scene.dead_letter(1001)

    page.goto(f"{live_server.url}{CHANGELIST}")
    expect(page.locator("#result_list tbody tr")).to_have_count(5)
    expect(page.locator("#replay-matching")).to_have_count(0)
    expect(page.locator("select[name=action]")).to_have_count(0)  # no action a Viewer may run
    expect(page.get_by_role("link", name="Error groups")).to_be_visible()
    page.get_by_role("link", name="Error groups").click()
    expect(page.locator("#error-groups tbody tr")).to_have_count(2)
    expect(page.get_by_role("button", name="Replay group…")).to_have_count(0)

    page.goto(f"{live_server.url}{CHANGELIST}{dead_letter.pk}/change/")
    expect(page.locator(".field-traceback_pre pre")).to_contain_text("upstream refused order 1001")
    for label in ("Replay…", "Dry run…", "Resolve…", "Ignore…"):
        expect(page.get_by_role("button", name=label)).to_have_count(0)

    # The same requests the Support buttons send, made by hand with the Viewer's session.
    flaky.fail = False
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    headers = {"Referer": f"{live_server.url}{CHANGELIST}", "X-CSRFToken": token}
    form = {"csrfmiddlewaretoken": token, "action": "replay", "_selected_action": str(dead_letter.pk)}
    refused = page.request.post(f"{live_server.url}{CHANGELIST}replay-matching/", form=form, headers=headers)
    assert refused.status == 403
    # A Support user gets the confirmation page for these; the Viewer gets the plain list back.
    for action in ("replay", "dry_run", "resolve"):
        answer = page.request.post(f"{live_server.url}{CHANGELIST}", headers=headers, form={
            **form, "action": action, "post": "yes", "note": "crafted",
        })
        assert answer.status == 200 and 'id="confirm-count"' not in answer.text()
    dead_letter.refresh_from_db()
    assert (dead_letter.status, dead_letter.replay_count, dead_letter.note) == ("open", 0, "")
    assert flaky.calls == 4  # the four failed deliveries; no replay ran
    assert DeadLetter.objects.filter(status="open").count() == 5
