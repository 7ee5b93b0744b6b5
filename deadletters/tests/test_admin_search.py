"""Searching dead letters the way support staff do: a shop, a webhook id, words of the error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deadletters.models import DeadLetter
from deadletters.tests.factories import make_dead_letters
from webhooks.admin import indexed

URL = reverse("admin:deadletters_deadletter_changelist")


def shown(admin_client, term: str) -> set[int]:
    response = admin_client.get(URL, {"q": term})
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


@pytest.mark.django_db
def test_it_finds_a_shops_dead_letters_by_domain_or_its_beginning(admin_client):
    ours = {dl.pk for dl in make_dead_letters(2, shop="aurora-outfitters.myshopify.com")}
    make_dead_letters(1, shop="bluebird-coffee.myshopify.com")
    assert shown(admin_client, "aurora-outfitters.myshopify.com") == ours
    assert shown(admin_client, "Aurora-Outfitters.myshopify") == ours


@pytest.mark.django_db
@pytest.mark.parametrize("listed", [50, 1])
def test_a_shops_beginning_finds_every_shop_it_begins_whether_listed_or_as_a_prefix(admin_client, monkeypatch, listed):
    # The shops are read from the shop index first (at most PREFIX_VALUES of them), else
    # the list filters by the prefix: the same dead letters either way.
    monkeypatch.setattr(indexed, "PREFIX_VALUES", listed)
    first = {dl.pk for dl in make_dead_letters(1, shop="aurora-1.myshopify.com")}
    tenth = {dl.pk for dl in make_dead_letters(1, shop="aurora-10.myshopify.com")}
    make_dead_letters(1, shop="aurora-2.myshopify.com")
    assert shown(admin_client, "aurora-1") == first | tenth
    assert shown(admin_client, "aurora-1.myshopify.com") == first


@pytest.mark.django_db
def test_it_finds_a_dead_letter_by_its_exact_webhook_id(admin_client):
    target, other = make_dead_letters(2)
    assert shown(admin_client, target.event.webhook_id) == {target.pk}
    assert other.pk not in shown(admin_client, target.event.webhook_id)


@pytest.mark.django_db
def test_it_finds_dead_letters_by_words_of_the_error(admin_client):
    (dl,) = make_dead_letters(1)
    words = dl.error_message.split()[0]
    assert dl.pk in shown(admin_client, words)
    assert shown(admin_client, "no-such-error-words-anywhere") == set()


@pytest.mark.django_db
def test_the_sidebar_lists_each_topic_and_error_class_once_and_filters_by_them(admin_client):
    made = make_dead_letters(5)
    orders = made[:3]
    DeadLetter.objects.filter(pk__in=[d.pk for d in orders]).update(topic="orders/create")
    DeadLetter.objects.filter(pk__in=[d.pk for d in made[3:]]).update(topic="customers/redact")
    DeadLetter.objects.filter(pk=orders[0].pk).update(error_class="KeyError")
    response = admin_client.get(URL)
    assert response.status_code == 200
    filters = {spec.title: [c["display"] for c in spec.choices(response.context["cl"])] for spec in response.context["cl"].filter_specs}
    assert filters["topic"] == ["All", "customers/redact", "orders/create"]
    assert "KeyError" in filters["error class"] and filters["error class"].count("KeyError") == 1
    assert "shop domain" not in filters  # thousands of shops: the search box finds a shop
    assert {obj.pk for obj in admin_client.get(URL, {"error_class": "KeyError"}).context["cl"].result_list} == {orders[0].pk}
