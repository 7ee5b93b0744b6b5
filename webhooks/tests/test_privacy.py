"""The mandatory privacy webhooks: data request export, customer redact, shop redact."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.db import connection

from deadletters.models import DeadLetter, ReplayRecord
from webhooks import privacy, processing
from webhooks.models import CustomerDataExport, EventStatus, Shop, WebhookEvent
from webhooks.tests.support import Reply, endpoint, store_event

SHOP = "demo-shop.myshopify.com"
EMAIL = "jon.snow@example.com"
PHONE = "+16135551212"
ADDRESS = {
    "first_name": "Jon", "last_name": "Snowfield", "address1": "123 Winterfell Road", "city": "Ottawa",
    "zip": "K2P 1L4", "province": "Ontario", "country": "Canada", "phone": PHONE, "name": "Jon Snowfield",
}
ORDER = {
    "id": 450789469, "name": "#1001", "email": EMAIL, "phone": PHONE, "total_price": "598.94", "currency": "USD",
    "note": f"Call {PHONE} before delivery",
    "customer": {"id": 207119551, "email": EMAIL, "first_name": "Jon", "last_name": "Snowfield", "phone": PHONE},
    "billing_address": ADDRESS, "shipping_address": ADDRESS,
    "line_items": [{"id": 466157049, "title": "IPod Nano - 8gb", "name": "IPod Nano - 8gb - green", "quantity": 1}],
    "client_details": {"browser_ip": "216.191.105.146"},
}
OTHER_ORDER = {
    "id": 450789470, "email": "arya@example.com", "customer": {"id": 207119552, "email": "arya@example.com"},
    "line_items": [{"id": 1, "title": "Needle"}],
}
CUSTOMER = {"id": 207119551, "email": EMAIL, "phone": PHONE}


def everything_stored() -> str:
    """Every row of every table in the database, as text."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from the catalogue
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows).lower()


@pytest.fixture
def customer_history(settings):
    """An order of the customer forwarded to an app that refuses it (a dead letter whose
    error quotes the e-mail), a replay record, and another customer's order."""
    settings.WEBHOOK_RETRY_DELAYS = [0.01]
    with endpoint(Reply(422, body=json.dumps({"errors": f"customer {EMAIL} is blocked"}).encode())) as app:
        settings.APP_WEBHOOK_URL = app.url
        order = store_event("orders/create", ORDER, shop=SHOP)
        assert processing.process_until_settled(order.pk) == EventStatus.DEAD
    letter = DeadLetter.objects.get(event=order)
    assert EMAIL in letter.error_message
    ReplayRecord.objects.create(dead_letter=letter, outcome="failed", error=f"still blocked: {EMAIL}")
    other = store_event("orders/create", OTHER_ORDER, shop=SHOP)
    return order, other, letter


@pytest.mark.django_db
def test_it_builds_a_downloadable_export_of_the_customer(customer_history, admin_client):
    order, other, letter = customer_history
    request = store_event(
        "customers/data_request",
        {"shop_id": 954889, "shop_domain": SHOP, "orders_requested": [450789469], "customer": CUSTOMER,
         "data_request": {"id": 9999}},
        shop=SHOP,
    )
    assert processing.process_event(request.pk) == EventStatus.PROCESSED
    export = CustomerDataExport.objects.get(event=request)
    assert export.customer_id == "207119551" and export.data_request_id == "9999"
    assert [e["id"] for e in export.document["events"]] == [order.pk]
    assert [d["id"] for d in export.document["dead_letters"]] == [letter.pk]
    # Building the export again (a replay of the request) rebuilds it instead of adding one.
    again = privacy.build_export(SHOP, privacy.Customer.from_payload(request.payload), request, "9999")
    assert again.pk == export.pk
    assert CustomerDataExport.objects.filter(customer_id="207119551").count() == 1

    response = admin_client.get(f"/admin/webhooks/customerdataexport/{export.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert json.loads(response.content)["events"][0]["payload"]["email"] == EMAIL
    assert "download/" in admin_client.get("/admin/webhooks/customerdataexport/").content.decode()


@pytest.mark.django_db
def test_it_serves_the_export_only_to_staff_allowed_to_download_it_and_logs_who_did(client):
    export = CustomerDataExport.objects.create(shop_domain=SHOP, customer_id="1", document={"x": 1})
    url = f"/admin/webhooks/customerdataexport/{export.pk}/download/"
    staff = User.objects.create_user("support", password="pw-support-1", is_staff=True)
    client.force_login(staff)
    assert client.get(url).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_customerdataexport"))
    staff = User.objects.get(pk=staff.pk)  # a fresh permission cache
    assert client.get(url).status_code == 403  # seeing the list is not enough
    assert "download/" not in client.get("/admin/webhooks/customerdataexport/").content.decode()
    assert not LogEntry.objects.exists()
    staff.user_permissions.add(Permission.objects.get(codename="download_customerdataexport"))
    assert client.get(url).status_code == 200
    entry = LogEntry.objects.get()
    assert (entry.user, entry.object_id, entry.change_message) == (staff, str(export.pk), "Downloaded the export")
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


@pytest.mark.django_db
def test_it_leaves_no_trace_of_a_redacted_customer_anywhere_in_the_database(customer_history):
    order, other, letter = customer_history
    request = store_event(
        "customers/data_request",
        {"shop_id": 954889, "shop_domain": SHOP, "customer": CUSTOMER, "data_request": {"id": 1}}, shop=SHOP,
    )
    assert processing.process_event(request.pk) == EventStatus.PROCESSED
    stored = everything_stored()
    assert EMAIL in stored and "snowfield" in stored and "winterfell" in stored  # the test can fail

    redact = store_event(
        "customers/redact",
        {"shop_id": 954889, "shop_domain": SHOP, "customer": CUSTOMER, "orders_to_redact": [450789469]},
        shop=SHOP,
    )
    assert processing.process_event(redact.pk) == EventStatus.PROCESSED
    stored = everything_stored()
    for trace in (EMAIL, PHONE, "snowfield", "winterfell", "216.191.105.146"):
        assert trace.lower() not in stored, trace
    # Ids, amounts and other customers stay.
    order.refresh_from_db()
    assert order.payload["id"] == 450789469 and order.payload["total_price"] == "598.94"
    assert order.payload["customer"]["id"] == 207119551
    assert order.payload["line_items"][0]["name"] == "IPod Nano - 8gb - green"
    assert order.redacted_at is not None
    assert WebhookEvent.objects.get(pk=other.pk).payload == OTHER_ORDER
    letter.refresh_from_db()
    assert letter.error_class == "webhooks.forwarding.ForwardFailed" and "[redacted]" in letter.error_message
    assert not CustomerDataExport.objects.exists()


@pytest.mark.django_db
def test_it_erases_a_redacted_shop_and_keeps_the_audit_trail(customer_history):
    order, other, letter = customer_history
    shop = Shop.objects.get(domain=SHOP)
    shop.set_offline_token("shpat_secret_value")
    redact = store_event("shop/redact", {"shop_id": 954889, "shop_domain": SHOP}, shop=SHOP)
    assert processing.process_event(redact.pk) == EventStatus.PROCESSED
    stored = everything_stored()
    assert EMAIL not in stored and "arya@example.com" not in stored
    order.refresh_from_db()
    assert order.payload == {} and order.status == EventStatus.DEAD and order.attempts == 2
    assert order.topic == "orders/create" and order.redacted_at is not None
    shop.refresh_from_db()
    assert shop.redacted_at is not None and not shop.has_offline_token
    letter.refresh_from_db()
    assert letter.error_class == "webhooks.forwarding.ForwardFailed" and letter.fingerprint
    assert letter.attempts[0]["number"] == 1 and letter.attempts[0]["error"] == "webhooks.forwarding.ForwardFailed"
    assert WebhookEvent.objects.filter(shop_domain=SHOP).count() == 3


@pytest.mark.django_db
def test_it_dead_letters_a_redact_without_a_customer():
    event = store_event("customers/redact", {"shop_id": 1, "shop_domain": SHOP}, shop=SHOP)
    assert processing.process_until_settled(event.pk) == EventStatus.DEAD
    assert DeadLetter.objects.get(event=event).error_message == "payload has no customer.id"
