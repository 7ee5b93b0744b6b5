"""Searching dead letters the way support staff do: a shop, a webhook id, words of the error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from deadletters.tests.factories import make_dead_letters

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
