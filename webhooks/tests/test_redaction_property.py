"""customers/redact removes exactly one customer, everywhere we keep text (hypothesis).

Random shops: customers who share first names, cities and postcodes; products whose titles
and vendors contain a city; every payload shape the subject index knows, some nested
hundreds of levels deep; failing handlers whose errors quote a customer; replays, dry runs,
resolves and a batch replay through the admin. After the redaction of one customer, a full
dump of the database (every table: the admin log and django-q2's included) holds none of
their e-mails, phone, full name, street or note, and every other payload is, as JSON, what
was received.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deadletters import batch_run
from deadletters.batches import ReplayBatch
from deadletters.models import DeadLetter
from deadletters.tests.test_admin_actions import run_action
from webhooks import processing
from webhooks.handlers import HandlerContext, handler
from webhooks.models import CustomerDataExport, EventStatus, WebhookEvent
from webhooks.tests.support import store_event
from webhooks.tests.test_privacy import everything_stored

SHOP = "prop-shop.myshopify.com"
EXAMPLES = int(os.environ.get("REDACTION_PROPERTY_EXAMPLES", "20"))
FIRST_NAMES = ["Ann", "Ann", "Bob", "Jon"]  # shared on purpose
CITIES = ["Ottawa", "Toronto"]
ZIPS = ["K2P 1L4", "M5V 2T6"]
SHAPES = ["customers/update", "orders/create", "checkouts/create", "draft_orders/create", "refunds/create",
          "fulfillments/create", "tests/nested", "tests/quotes-customer"]


@handler("tests/quotes-customer")
def quotes_customer(ctx: HandlerContext) -> str:
    """Fails, quoting the customer of its payload, as a careless upstream would."""
    c = ctx.event.payload["customer"]
    raise RuntimeError(f"could not sync {c['first_name']} {c['last_name']} <{c['email']}>, phone {c['phone']}")


@dataclass
class Person:
    n: int
    first: str
    city: str
    zip: str

    @property
    def id(self) -> int:
        return 7_000_000 + self.n

    @property
    def last(self) -> str:
        return f"Lastname{'xyzw'[self.n]}q"

    @property
    def email(self) -> str:
        return f"{self.first.lower()}.{self.last.lower()}@example.com"

    @property
    def old_email(self) -> str:
        return f"old-{self.n}-{self.first.lower()}@example.org"

    @property
    def phone(self) -> str:
        return f"+1613555{1000 + self.n}"

    @property
    def street(self) -> str:
        return f"{40 + self.n} Winterfell Road"

    @property
    def note(self) -> str:
        return f"Gate code {9100 + self.n}, ring twice"

    def address(self) -> dict[str, Any]:
        return {"first_name": self.first, "last_name": self.last, "name": f"{self.first} {self.last}",
                "address1": self.street, "city": self.city, "zip": self.zip, "province": "Ontario",
                "country": "Canada", "phone": self.phone, "latitude": 45.4, "longitude": -75.7}

    def customer(self, email: str | None = None) -> dict[str, Any]:
        return {"id": self.id, "email": email or self.email, "first_name": self.first, "last_name": self.last,
                "phone": self.phone, "note": self.note, "default_address": self.address()}

    def order_id(self, k: int) -> int:
        return 450_000_000 + 100 * self.n + k

    def payload(self, shape: str, k: int, depth: int) -> dict[str, Any]:
        order = {"id": self.order_id(k), "name": f"#{1000 + 10 * self.n + k}", "email": self.email,
                 "phone": self.phone, "note": self.note, "total_price": "10.00",
                 "customer": self.customer(), "billing_address": self.address(), "shipping_address": self.address(),
                 "client_details": {"browser_ip": f"10.0.{self.n}.7"},
                 "line_items": [{"id": 1, "title": f"{self.city} Hoodie", "vendor": "Ontario Knits"}]}
        if shape == "customers/update":
            return self.customer(email=self.old_email)  # recorded under an earlier e-mail
        if shape in ("orders/create", "checkouts/create", "draft_orders/create"):
            return order
        if shape == "refunds/create":
            return {"id": 9, "order_id": self.order_id(1), "note": self.note, "refund_line_items": []}
        if shape == "fulfillments/create":
            return {"id": 8, "order_id": self.order_id(1), "email": self.email, "destination": self.address()}
        if shape == "tests/nested":
            nested: Any = {"customer": self.customer()}
            for level in range(depth):
                nested = {"level": level, "inner": [nested]}
            return {"wrapper": nested}
        return {"customer": self.customer()}

    def traces(self) -> list[str]:
        return [self.email, self.old_email, self.phone, f"{self.first} {self.last}", self.street, self.note]


people = st.integers(min_value=2, max_value=4).flatmap(lambda count: st.tuples(*[
    st.builds(Person, st.just(n), st.sampled_from(FIRST_NAMES), st.sampled_from(CITIES), st.sampled_from(ZIPS))
    for n in range(count)
]))


class _Rollback(Exception):
    pass


@pytest.mark.django_db
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    shop=people,
    shapes=st.lists(st.sets(st.sampled_from(SHAPES), max_size=len(SHAPES)), min_size=4, max_size=4),
    depth=st.sampled_from([0, 3, 300]),
    target=st.integers(min_value=0, max_value=3),
    name_orders=st.booleans(),
)
def test_it_removes_exactly_one_customer_everywhere(admin_client, settings, shop, shapes, depth, target, name_orders):
    settings.WEBHOOK_RETRY_DELAYS = []
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    target %= len(shop)
    try:
        with transaction.atomic():
            check_one_redaction(admin_client, list(shop), shapes, depth, target, name_orders)
            raise _Rollback  # each example starts from an empty shop
    except _Rollback:
        pass


def check_one_redaction(admin_client: Any, shop: list[Person], shapes: list[set[str]], depth: int, target: int,
                        name_orders: bool) -> None:
    received: dict[int, Any] = {}  # every payload not about the target, as received
    for person, extra in zip(shop, shapes, strict=False):
        for k, shape in enumerate(["customers/create", "orders/create", "customers/update", *sorted(extra)]):
            payload = person.payload(shape, k, depth)
            event = store_event(shape, payload, shop=SHOP)
            if person.n != target:
                received[event.pk] = json.loads(json.dumps(payload))
            processing.process_event(event.pk)
    for city in CITIES:
        product = {"id": 632910392, "title": f"{city} Hoodie", "vendor": "Ontario Knits", "tags": city}
        received[store_event("products/update", product, shop=SHOP).pk] = product
    victim, other = shop[target], shop[(target + 1) % len(shop)]
    work_through_the_admin(admin_client, victim)
    request = {"shop_domain": SHOP, "customer": {"id": other.id, "email": other.email}, "data_request": {"id": 5}}
    asked = store_event("customers/data_request", request, shop=SHOP)
    assert processing.process_event(asked.pk) == EventStatus.PROCESSED, list(asked.attempt_log.values("error_message"))
    before = everything_stored()
    assert all(trace.lower() in before for trace in victim.traces() + other.traces())  # the test can fail

    redact = {"shop_domain": SHOP, "customer": {"id": victim.id, "email": victim.email, "phone": victim.phone},
              "orders_to_redact": [victim.order_id(1)] if name_orders else []}
    assert processing.process_event(store_event("customers/redact", redact, shop=SHOP).pk) == EventStatus.PROCESSED

    after = everything_stored()
    for trace in victim.traces():
        assert trace.lower() not in after, trace
    for trace in other.traces():
        assert trace.lower() in after, trace
    stored = dict(WebhookEvent.objects.filter(pk__in=received).values_list("pk", "payload"))
    assert stored == received
    assert CustomerDataExport.objects.filter(customer_id=str(other.id)).count() == 1


def work_through_the_admin(admin_client: Any, victim: Person) -> None:
    """Replay, dry-run and resolve the shop's dead letters (every one of them quotes its
    customer), then replay what is still open in a background batch."""
    letters = list(DeadLetter.objects.filter(shop_domain=SHOP).order_by("pk").values_list("pk", flat=True))
    if not letters:
        return
    run_action(admin_client, "replay", letters[:1])
    run_action(admin_client, "dry_run", letters[-1:])
    run_action(admin_client, "resolve", letters[-1:], note=f"asked {victim.email} to call {victim.phone}")
    open_ids = list(DeadLetter.objects.filter(shop_domain=SHOP, status="open").values_list("pk", flat=True))
    batch = ReplayBatch.start(open_ids, None, f"replay of {len(open_ids)} dead letters")
    assert batch_run.run(batch, budget_seconds=60)
