"""The Shop page: its deliveries and open dead letters with counts, for every staff role."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from deadletters.staff_groups import sync_staff_groups
from deadletters.tests.factories import bulk_dead_letters
from webhooks.models import Shop

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("group", ["Viewer", "Support"])
def test_it_shows_a_shops_counts_and_links_to_staff_who_may_only_look(client, django_user_model, group):
    sync_staff_groups()
    user = django_user_model.objects.create_user("staff-1", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=group))
    client.force_login(user)
    shop = Shop.objects.create(domain="bulk-shop.myshopify.com")
    bulk_dead_letters(3)
    page = client.get(reverse("admin:webhooks_shop_change", args=[shop.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "Open dead letters: 3 dead letters" in text and "All deliveries: 3 deliveries" in text
    assert "offline_token" not in text  # the token fields are for those who may change the shop


def test_it_counts_one_in_the_singular(admin_client):
    shop = Shop.objects.create(domain="bulk-shop.myshopify.com")
    bulk_dead_letters(1)
    text = admin_client.get(reverse("admin:webhooks_shop_change", args=[shop.pk])).content.decode()
    assert "Open dead letters: 1 dead letter<" in text and "All deliveries: 1 delivery<" in text


@given(st.integers(0, 10_000))
def test_counts_read_as_english(n):
    from webhooks.admin.kit import count_of

    text = count_of(n, "delivery", "deliveries")
    assert text == (f"{n} delivery" if n == 1 else f"{n} deliveries")
    assert "(s)" not in count_of(n, "dead letter")
