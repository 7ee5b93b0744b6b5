"""The admin's index readers and list shortcuts: the same answers and the same HTML as
Django's own way, for less work on big tables."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from deadletters.models import DeadLetter
from webhooks.admin import indexed
from webhooks.admin.kit import FastListAdmin
from webhooks.models import WebhookEvent
from webhooks.store import insert_event

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:webhooks_webhookevent_changelist")
SHOPS = ["x_y.myshopify.com", "xzy.myshopify.com", "x%y.myshopify.com", "shop-1.myshopify.com",
         "shop-10.myshopify.com", "shop-2.myshopify.com"]


def store(shop: str) -> int:
    pk = insert_event(provider="shopify", topic="orders/create", shop_domain=shop, webhook_id=f"wh-{uuid.uuid4()}",
                      payload={"id": 1})
    assert pk is not None
    return pk


def shown(admin_client, term: str) -> set[int]:
    response = admin_client.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    return {e.pk for e in response.context["cl"].result_list}


@pytest.mark.postgres
def test_it_reads_the_shops_a_beginning_names_from_the_index_taking_wildcards_literally():
    for shop in SHOPS:
        store(shop)
    assert indexed.values_beginning(WebhookEvent, "shop_domain", "shop-1", 10) == [
        "shop-1.myshopify.com", "shop-10.myshopify.com"]
    assert indexed.values_beginning(WebhookEvent, "shop_domain", "x_y", 10) == ["x_y.myshopify.com"]
    assert indexed.values_beginning(WebhookEvent, "shop_domain", "x%", 10) == ["x%y.myshopify.com"]
    assert indexed.values_beginning(WebhookEvent, "shop_domain", "nobody", 10) == []
    assert indexed.values_beginning(WebhookEvent, "shop_domain", "shop-", 2) is None  # more than 2


@pytest.mark.postgres
def test_it_reads_a_columns_distinct_values_from_the_index():
    for shop in [*SHOPS, *SHOPS]:
        store(shop)
    assert indexed.distinct_values(WebhookEvent, "topic", 10) == ["orders/create"]


@pytest.mark.parametrize("limit", [50, 1])
def test_a_shops_beginning_finds_the_same_events_listed_or_as_a_prefix(admin_client, monkeypatch, limit):
    monkeypatch.setattr(indexed, "PREFIX_VALUES", limit)
    ids = {shop: store(shop) for shop in SHOPS}
    assert shown(admin_client, "shop-1") == {ids["shop-1.myshopify.com"], ids["shop-10.myshopify.com"]}
    assert shown(admin_client, "SHOP-2.myshopify.com") == {ids["shop-2.myshopify.com"]}
    assert shown(admin_client, "x_y") == {ids["x_y.myshopify.com"]}
    assert shown(admin_client, "no-such-shop") == set()


def test_a_webhook_id_and_a_shop_in_one_term_find_both(admin_client):
    shop_event = store("wh-shop-9.myshopify.com")
    delivery = store("elsewhere.myshopify.com")
    WebhookEvent.objects.filter(pk=delivery).update(webhook_id="wh-shop-9")
    assert shown(admin_client, "wh-shop-9") == {shop_event, delivery}


def test_row_links_are_the_urls_django_reverses(admin_client):
    event = WebhookEvent.objects.get(pk=store("links.myshopify.com"))
    cl = admin_client.get(CHANGELIST).context["cl"]
    assert cl.url_for_result(event) == reverse("admin:webhooks_webhookevent_change", args=[event.pk])
    odd = SimpleNamespace(id="a/b c_%?é")  # a key the admin and the URL both quote
    assert cl.url_for_result(odd) == reverse("admin:webhooks_webhookevent_change", args=[admin.utils.quote(odd.id)])


def test_the_action_checkbox_is_the_html_djangos_widget_renders():
    dead_letter = DeadLetter(pk=7, topic="<b>orders/create</b>")
    model_admin = admin.site._registry[DeadLetter]
    assert isinstance(model_admin, FastListAdmin)
    assert model_admin.action_checkbox(dead_letter) == admin.ModelAdmin.action_checkbox(model_admin, dead_letter)


def test_the_list_counts_up_to_the_cap_without_sorting(admin_client):
    store("count.myshopify.com")
    with CaptureQueriesContext(connection) as captured:
        assert admin_client.get(CHANGELIST).context["cl"].result_count == 1
    (count,) = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT COUNT(*)")]
    assert "ORDER BY" not in count and "LIMIT" in count


def test_the_list_leaves_big_fields_out_of_its_rows_and_the_export_keeps_them(admin_client):
    store("defer.myshopify.com")
    (row,) = admin_client.get(CHANGELIST).context["cl"].result_list
    assert {"payload", "headers"} <= row.get_deferred_fields()
    export = admin_client.get(reverse("admin:webhooks_webhookevent_export", args=["jsonl"]))
    assert b'"payload": {"id": 1}' in b"".join(export.streaming_content)


def test_the_shop_and_topic_filters_write_what_djangos_filter_template_writes(admin_client):
    from django.contrib.admin.templatetags.admin_list import admin_list_filter
    from django.template.loader import get_template

    from webhooks.admin.events import RecentValuesFilter

    for shop in ["a-shop.myshopify.com", "b&<shop>.myshopify.com", "ünï.myshopify.com"]:
        store(shop)
    query = {"topic": "orders/create", "q": "a b&c", "o": "2.-1", "status__exact": "received",
             "shop_domain": "b&<shop>.myshopify.com", "within": "24h"}
    cl = admin_client.get(CHANGELIST, query).context["cl"]
    specs = [spec for spec in cl.filter_specs if isinstance(spec, RecentValuesFilter)]
    assert len(specs) == 2
    for spec in specs:
        ours = admin_list_filter(cl, spec)
        theirs = get_template("admin/filter.html").render(
            {"title": spec.title, "choices": list(spec.choices(cl)), "spec": spec})
        assert ours == theirs
        assert [c["query_string"] for c in spec.choices(cl)][1:] == [
            cl.get_query_string({spec.parameter_name: value}) for value, _ in spec.lookup_choices]


def test_with_facets_the_filters_count_their_choices_the_django_way(admin_client):
    store("facet-shop.myshopify.com")
    html = admin_client.get(CHANGELIST, {"_facets": "True"}).content.decode()
    assert "facet-shop.myshopify.com (1)" in html
