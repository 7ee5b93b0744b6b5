"""The compliance-request tracker: due dates, overdue, the alert level, the export
permission; the signed shop_domain; exports that hold exactly what the index finds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from deadletters.models import DeadLetter
from deadletters.replay import replay_one
from timedify_ops.alerting import evaluate
from timedify_ops.tests.conftest import record_health
from webhooks import privacy, processing
from webhooks.compliance import ComplianceRequest, RequestStatus
from webhooks.models import CustomerDataExport, EventStatus, WebhookEvent
from webhooks.tests.support import store_event

pytestmark = pytest.mark.django_db

SHOP = "tracked-shop.myshopify.com"
CUSTOMER = {"id": 5501, "email": "Kim.Tran@example.com", "phone": "+16135550100"}


def request(topic: str, **extra: Any) -> WebhookEvent:
    payload: dict[str, Any] = {"shop_id": 1, "shop_domain": SHOP, **extra}
    if topic.startswith("customers/"):
        payload.setdefault("customer", CUSTOMER)
    return store_event(topic, payload, shop=extra.pop("header_shop", SHOP))


def test_it_tracks_a_data_request_with_its_due_date_and_evidence():
    event = request("customers/data_request", data_request={"id": 777})

    assert processing.process_event(event.pk) == EventStatus.PROCESSED

    row = ComplianceRequest.objects.get(event=event)
    export = CustomerDataExport.objects.get(event=event)
    assert (row.kind, row.shop_domain, row.shopify_request_id, row.customer_id) == (
        "customers/data_request", SHOP, "777", "5501")
    assert row.due_at == event.received_at + timedelta(days=30)
    assert row.status == RequestStatus.DONE and row.completed_at is not None
    assert row.evidence == {"export_id": export.pk, "exported_items": 0}
    assert "kim" not in str(row.evidence).lower()


def test_it_tracks_redactions_with_counts_only():
    order = store_event("orders/updated", {"id": 1, "customer": CUSTOMER, "email": CUSTOMER["email"]}, shop=SHOP)
    processing.process_event(order.pk)
    redact = request("customers/redact", orders_to_redact=[1])
    shop = request("shop/redact")

    assert processing.process_event(redact.pk) == EventStatus.PROCESSED
    assert processing.process_event(shop.pk) == EventStatus.PROCESSED

    rows = {r.kind: r for r in ComplianceRequest.objects.all()}
    assert rows["customers/redact"].evidence == {"events_scrubbed": 2, "texts_scrubbed": 0, "exports_deleted": 0}
    assert rows["shop/redact"].evidence == {"events_erased": 3}
    assert {r.status for r in rows.values()} == {RequestStatus.DONE}


def test_it_marks_a_request_failed_when_its_event_dies_and_done_after_a_replay():
    event = request("customers/redact", customer={"email": "no-id@example.com"})

    assert processing.process_event(event.pk) == EventStatus.DEAD

    row = ComplianceRequest.objects.get(event=event)
    assert (row.status, row.error_class) == (RequestStatus.FAILED, "webhooks.errors.PayloadInvalid")
    assert list(ComplianceRequest.objects.needing_attention()) == [row]
    WebhookEvent.objects.filter(pk=event.pk).update(payload={"shop_domain": SHOP, "customer": CUSTOMER})
    replay_one(DeadLetter.objects.get(event=event))
    row.refresh_from_db()
    assert (row.status, row.error_class) == (RequestStatus.DONE, "")


def test_it_refuses_a_privacy_request_whose_header_names_another_shop():
    victim = store_event("orders/updated", {"id": 2, "customer": CUSTOMER}, shop="victim.myshopify.com")
    processing.process_event(victim.pk)
    spoofed = request("customers/redact", header_shop="victim.myshopify.com")
    erase = store_event("shop/redact", {"shop_domain": SHOP}, shop="victim.myshopify.com")

    assert processing.process_event(spoofed.pk) == EventStatus.DEAD
    assert processing.process_event(erase.pk) == EventStatus.DEAD

    assert DeadLetter.objects.get(event=spoofed).error_class == "webhooks.errors.SuspiciousDelivery"
    victim.refresh_from_db()
    assert victim.payload["customer"]["email"] == CUSTOMER["email"] and victim.redacted_at is None
    assert ComplianceRequest.objects.filter(status=RequestStatus.FAILED).count() == 2


def test_it_finds_what_is_due_soon_overdue_or_failed():
    now = timezone.now()

    def row(days_old: float, status: str = RequestStatus.PENDING) -> ComplianceRequest:
        received = now - timedelta(days=days_old)
        return ComplianceRequest.objects.create(
            shop_domain=SHOP, kind="customers/redact", received_at=received, due_at=received + timedelta(days=30),
            status=status,
        )

    fresh, near, late, done_late, failed = row(1), row(28), row(31), row(40, "done"), row(1, "failed")

    assert set(ComplianceRequest.objects.needing_attention(now)) == {near, late, failed}
    assert set(ComplianceRequest.objects.overdue(now)) == {late}
    assert set(ComplianceRequest.objects.open()) == {fresh, near, late, failed}
    assert ComplianceRequest.objects.mark_overdue(now) == 1
    late.refresh_from_db()
    assert late.status == RequestStatus.OVERDUE and done_late.status == RequestStatus.DONE


def test_it_raises_alert_level_2_for_a_failed_request_or_one_near_its_deadline():
    record_health("ok")
    assert evaluate()["level"] == 1
    received = timezone.now() - timedelta(days=27, hours=1)
    ComplianceRequest.objects.create(shop_domain=SHOP, kind="shop/redact", received_at=received,
                                     due_at=received + timedelta(days=30))

    result = evaluate()

    assert result["level"] == 2 and result["compliance_needing_attention"] == 1
    assert "1 compliance requests failed or within 3 days of their deadline" in result["reasons"]


def test_it_lists_requests_in_the_admin_and_counts_open_ones_on_the_dashboard(admin_client):
    event = request("customers/redact", customer={"email": "no-id@example.com"})
    processing.process_event(event.pk)

    page = admin_client.get("/admin/webhooks/compliancerequest/?state=open").content.decode()
    assert "tracked-shop.myshopify.com" in page and "Failed" in page
    dashboard = admin_client.get("/admin/ops/dashboard/").content.decode()
    assert 'Open compliance requests: <a href="/admin/webhooks/compliancerequest/?state=open">1</a>' in dashboard


def test_it_records_who_downloaded_an_export_in_the_log_and_the_evidence(client):
    event = request("customers/data_request", data_request={"id": 9})
    processing.process_event(event.pk)
    export = CustomerDataExport.objects.get(event=event)
    user = User.objects.create_user("privacy-officer", password="pw-officer-1", is_staff=True)
    client.force_login(user)
    url = f"/admin/webhooks/customerdataexport/{export.pk}/download/"
    assert client.get(url).status_code == 403

    user.user_permissions.add(Permission.objects.get(codename="download_customerdataexport"))
    assert client.get(url).status_code == 200

    row = ComplianceRequest.objects.get(event=event)
    assert [d["user_id"] for d in row.evidence["downloads"]] == [user.pk]
    assert LogEntry.objects.get(user=user).change_message == "Downloaded the export"


def test_it_exports_exactly_the_events_the_index_finds():
    mine = [
        store_event("orders/create", {"id": 11, "customer": {"id": 5501}}, shop=SHOP),
        store_event("customers/update", {"id": 5501, "email": "earlier@example.com"}, shop=SHOP),
        store_event("checkouts/create", {"id": 3, "email": "KIM.TRAN@example.com"}, shop=SHOP),
        store_event("refunds/create", {"id": 4, "order_id": 12}, shop=SHOP),  # a requested order
    ]
    others = [
        store_event("orders/create", {"id": 13, "customer": {"id": 5502}, "note": "Kim.Tran@example.com"}, shop=SHOP),
        store_event("products/update", {"id": 5, "title": "Kim Hoodie"}, shop=SHOP),
        store_event("orders/create", {"id": 11, "customer": {"id": 5501}}, shop="elsewhere.myshopify.com"),
    ]
    for event in mine[:3] + others:
        processing.process_event(event.pk)  # the refund stays unindexed: found by its payload
    asked = request("customers/data_request", orders_requested=[12], data_request={"id": 1})

    assert processing.process_event(asked.pk) == EventStatus.PROCESSED

    exported = {e["id"] for e in CustomerDataExport.objects.get(event=asked).document["events"]}
    assert exported == {e.pk for e in mine}
    who = privacy.Customer.from_payload(asked.payload)
    assert {e.pk for e in privacy.customer_events(SHOP, who)} == exported | {asked.pk}


def test_it_redacts_a_shop_holding_a_payload_nested_hundreds_of_levels_deep():
    # As deep as JSON storage allows (its encoder has a recursion limit of its own): the
    # walks of the index and of the redaction use no recursion at all.
    nested: Any = {"customer": CUSTOMER}
    for _ in range(300):
        nested = {"x": [nested]}
    deep = store_event("orders/updated", {"wrapper": nested}, shop=SHOP)
    processing.process_event(deep.pk)
    redact = request("customers/redact")

    assert processing.process_event(redact.pk) == EventStatus.PROCESSED

    deep.refresh_from_db()
    assert CUSTOMER["email"] not in str(WebhookEvent.objects.filter(pk=deep.pk).values_list("payload", flat=True)[0])
