"""Export what you found: the filtered dead-letter and event lists as CSV or JSON lines,
streamed, behind the customer-data export permission, logged."""

from __future__ import annotations

import csv
import io
import json
import tracemalloc

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from deadletters.models import DeadLetter
from deadletters.tests.factories import bulk_dead_letters
from webhooks.admin.export import csv_lines

pytestmark = pytest.mark.django_db


def url(fmt: str, **query: str) -> str:
    path = reverse("admin:deadletters_deadletter_export", args=[fmt])
    return path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def body(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_it_exports_the_filtered_list_as_csv_and_json_lines_and_logs_it(admin_client, admin_user):
    bulk_dead_letters(3, shop="one-shop.myshopify.com")
    bulk_dead_letters(2, shop="other-shop.myshopify.com")
    response = admin_client.get(url("csv", q="one-shop.myshopify.com"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="deadletter-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert [r["shop"] for r in rows] == ["one-shop.myshopify.com"] * 3
    assert {r["webhook_id"] for r in rows} == set(
        DeadLetter.objects.filter(shop_domain="one-shop.myshopify.com").values_list("event__webhook_id", flat=True))

    lines = body(admin_client.get(url("jsonl", shop_domain="other-shop.myshopify.com"))).splitlines()
    assert [json.loads(line)["shop"] for line in lines] == ["other-shop.myshopify.com"] * 2
    logged = LogEntry.objects.filter(user=admin_user).order_by("pk")
    assert [e.change_message for e in logged] == [
        "Exported the dead letters list as CSV (q=[search]).",  # what was searched may be personal
        "Exported the dead letters list as JSONL (shop_domain=other-shop.myshopify.com).",
    ]


def test_it_refuses_staff_without_the_customer_data_export_permission(client, django_user_model):
    user = django_user_model.objects.create_user("looker", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_deadletter"))
    client.force_login(user)
    listing = client.get(reverse("admin:deadletters_deadletter_changelist"))
    assert listing.status_code == 200 and b"export-csv" not in listing.content
    assert client.get(url("csv")).status_code == 403
    # Viewing export rows is not enough: a list export carries payloads, so it needs the
    # download permission of customer data exports, which no group has by default.
    user.user_permissions.add(Permission.objects.get(codename="view_customerdataexport"))
    user = django_user_model.objects.get(pk=user.pk)  # permissions are cached per instance
    client.force_login(user)
    assert client.get(url("csv")).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="download_customerdataexport"))
    user = django_user_model.objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(url("csv")).status_code == 200
    assert client.get(url("xlsx")).status_code == 404


def test_it_sends_a_filter_it_cannot_apply_back_to_the_list(admin_client):
    response = admin_client.get(url("csv") + "?created_at__gte=nope")
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_it_exports_the_event_list_too(admin_client):
    bulk_dead_letters(2)
    lines = body(admin_client.get(reverse("admin:webhooks_webhookevent_export", args=["jsonl"]))).splitlines()
    assert sorted(json.loads(line)["payload"]["id"] for line in lines) == [0, 1]


def copies_of(dead_letter: DeadLetter, total: int) -> None:
    """`total` rows like this resolved one, made by the database doubling the table (a
    hundred thousand model instances would take minutes on a busy SQLite)."""
    columns = ", ".join(connection.ops.quote_name(f.column) for f in DeadLetter._meta.concrete_fields if not f.primary_key)
    table = connection.ops.quote_name(DeadLetter._meta.db_table)
    with connection.cursor() as cursor:
        while (count := DeadLetter.objects.count()) < total:
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {table} LIMIT %s",  # noqa: S608
                           [total - count])


def test_it_streams_100000_rows_with_flat_memory(admin_client):
    (one,) = bulk_dead_letters(1)
    one.resolve(None, "closed")  # many closed dead letters may share an event; open ones may not
    copies_of(one, 100_000)
    response = admin_client.get(url("csv", status="all"))
    tracemalloc.start()
    try:
        size = rows = 0
        for chunk in response.streaming_content:
            size += len(chunk)
            rows += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 100_001  # the header and every row
    # Everything at once would need at least the whole body; a stream needs a chunk's worth.
    assert peak < size / 4, f"peak {peak / 1e6:.1f} MB for a {size / 1e6:.1f} MB export"


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=20), min_size=1, max_size=5))
def test_no_cell_starts_a_spreadsheet_formula_and_every_value_comes_back(values):
    text = "".join(csv_lines([f"c{i}" for i in range(len(values))], [values]))
    row = list(csv.reader(io.StringIO(text, newline="")))[1]
    for cell, value in zip(row, values, strict=True):
        assert not cell.startswith(("=", "+", "-", "@"))
        assert cell == value or cell == "'" + value
