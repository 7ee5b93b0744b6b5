"""The subject index: which customers and orders an event mentions, found by structure."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from timedify_ops import jobs
from webhooks import indexer, processing, subjects
from webhooks.models import EventStatus, WebhookEvent
from webhooks.subject_index import EventSubject
from webhooks.subjects import Subject
from webhooks.tests.support import store_event

pytestmark = pytest.mark.django_db

ORDER = {
    "id": 450789469, "name": "#1001", "email": "Jon.Snow@Example.com", "phone": "+1 (613) 555-1212",
    "customer": {"id": 207119551, "email": "jon.snow@example.com", "first_name": "Jon", "phone": "+16135551212"},
    "line_items": [{"id": 466157049, "title": "Ottawa Hoodie", "vendor": "Ontario Knits"}],
    "billing_address": {"first_name": "Jon", "city": "Ottawa", "phone": "555 0100"},
}


def kinds(found: list[Subject]) -> set[tuple[str, str]]:
    return {(s.kind, s.value) for s in found}


def test_it_finds_the_order_its_customer_and_their_contacts_by_structure() -> None:
    found = subjects.extract("orders/updated", ORDER)
    assert kinds(found) == {
        ("order_id", "450789469"), ("order_name", "1001"), ("email", "jon.snow@example.com"),
        ("phone", "6135551212"), ("customer_id", "207119551"),
    }
    assert [s for s in found if s.primary] == [Subject("order_id", "450789469", True)]


def test_it_leaves_out_addresses_products_and_free_text() -> None:
    payload = {**ORDER, "note": "call jon@example.org", "line_items": [{"title": "sam@example.com"}]}
    values = {s.value for s in subjects.extract("orders/create", payload)}
    assert "jon@example.org" not in values and "sam@example.com" not in values
    assert "5550100" not in values  # an address phone is the address', not a contact of the order


def test_it_takes_the_top_level_customer_of_customers_topics_but_not_of_requests() -> None:
    customer = {"id": 7, "email": "OLD@example.com", "phone": None, "last_order_id": 5, "last_order_name": "#1005"}
    assert kinds(subjects.extract("customers/update", customer)) == {
        ("customer_id", "7"), ("email", "old@example.com"), ("order_id", "5"), ("order_name", "1005"),
    }
    request = {"shop_id": 1, "customer": {"id": 7, "email": "a@b.c"}, "orders_to_redact": [5, 6]}
    assert kinds(subjects.extract("customers/redact", request)) == {
        ("customer_id", "7"), ("email", "a@b.c"), ("order_id", "5"), ("order_id", "6"),
    }
    assert not any(s.primary for s in subjects.extract("customers/redact", request))


def test_it_reads_order_ids_of_refunds_fulfillments_drafts_and_checkouts() -> None:
    assert kinds(subjects.extract("refunds/create", {"id": 9, "order_id": 5})) == {("order_id", "5")}
    assert kinds(subjects.extract("fulfillments/update", {"id": 3, "order_id": "gid://shopify/Order/5"})) == {
        ("order_id", "5")
    }
    draft = {"id": 11, "name": "#D1", "order_id": 5, "customer": {"id": 7}}
    assert kinds(subjects.extract("draft_orders/update", draft)) == {
        ("draft_order_id", "11"), ("order_name", "d1"), ("order_id", "5"), ("customer_id", "7"),
    }
    assert kinds(subjects.extract("checkouts/create", {"id": 12, "email": "x@y.z"})) == {
        ("checkout_id", "12"), ("email", "x@y.z"),
    }


def test_it_walks_a_payload_nested_far_deeper_than_the_recursion_limit() -> None:
    payload: Any = {"customer_id": 1}
    for _ in range(50_000):
        payload = {"x": [payload]}
    assert kinds(subjects.extract("orders/create", payload)) == {("customer_id", "1")}


def test_it_normalises_what_staff_type_like_what_it_stores() -> None:
    assert subjects.guess("#4939") == [("order_name", "4939")]
    assert subjects.guess(" Jon@Example.COM ") == [("email", "jon@example.com")]
    assert subjects.guess("4939") == [("order_id", "4939"), ("customer_id", "4939"), ("order_name", "4939")]
    assert subjects.guess("") == []
    with pytest.raises(ValueError, match="unknown subject kind"):
        subjects.normalise("street", "x")


json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(["id", "customer", "order", "customer_id", "order_id", "email", "name",
                                         "phone", "orders_to_redact", "x", "title"]), inner, max_size=5),
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(topic=st.sampled_from(["orders/create", "customers/update", "customers/redact", "refunds/create", "products/update"]),
       payload=json_value, customer_id=st.integers(min_value=1, max_value=10**12), depth=st.integers(0, 40))
def test_it_finds_a_customer_object_wherever_it_is_and_only_stores_normal_forms(
    topic: str, payload: Any, customer_id: int, depth: int
) -> None:
    nested: Any = {"customer": {"id": customer_id, "email": "Who@Example.com"}}
    for level in range(depth):
        nested = {"x": nested} if level % 2 else [payload, nested]
    found = subjects.extract(topic, {"wrapper": [payload, nested]})
    assert ("customer_id", str(customer_id)) in kinds(found)
    assert ("email", "who@example.com") in kinds(found)
    for subject in found:
        assert subjects.normalise(subject.kind, subject.value) == subject.value
        assert len(subject.value) <= EventSubject._meta.get_field("value").max_length


def test_it_indexes_an_event_when_the_worker_first_reads_it(settings: Any) -> None:
    event = store_event("orders/updated", ORDER)
    assert WebhookEvent.objects.unindexed().filter(pk=event.pk).exists()

    assert processing.process_event(event.pk) == EventStatus.IGNORED

    assert list(WebhookEvent.objects.mentioning("order_name", "#1001")) == [event]
    assert list(WebhookEvent.objects.mentioning("order_name", "1001")) == [event]
    assert list(WebhookEvent.objects.mentioning("email", "JON.SNOW@example.com")) == [event]
    assert list(WebhookEvent.objects.mentioning("customer_id", 207119551)) == [event]
    assert list(WebhookEvent.objects.mentioning("order_id", 450789469, primary=True)) == [event]
    assert not WebhookEvent.objects.mentioning("customer_id", 207119551, primary=True).exists()
    assert list(WebhookEvent.objects.matching_search("#1001")) == [event]
    assert list(WebhookEvent.objects.mentioning("phone", "+1 613 555 1212")) == [event]
    assert EventSubject.objects.of_event(event)[0] == Subject("order_id", "450789469", True)
    assert not WebhookEvent.objects.unindexed().filter(pk=event.pk).exists()


def test_it_indexes_an_event_that_ends_as_a_dead_letter(settings: Any) -> None:
    settings.APP_WEBHOOK_URL = ""  # orders/create fails permanently without it
    event = store_event("orders/create", {**ORDER, "name": "#4939"})

    assert processing.process_event(event.pk) == EventStatus.DEAD

    assert list(WebhookEvent.objects.matching_search("#4939")) == [event]
    assert event.dead_letters.count() == 1


def test_it_indexes_again_on_a_second_claim_without_duplicates(settings: Any) -> None:
    event = store_event("orders/updated", ORDER)
    indexer.index(event)
    indexer.index(event)
    assert EventSubject.objects.filter(event=event).count() == 5


def test_it_backfills_events_stored_before_the_index_from_the_sweeper(settings: Any) -> None:
    settings.SUBJECT_INDEX_BACKFILL_BATCH = 2
    old = [store_event("orders/updated", {**ORDER, "id": n}, status=EventStatus.PROCESSED) for n in (1, 2, 3)]
    waiting = store_event("orders/updated", {**ORDER, "id": 4})

    jobs.run("sweeper", trigger="command")
    assert WebhookEvent.objects.unindexed().count() == 2  # one old event left, and the unclaimed one
    call_command("index_subjects", stdout=(out := StringIO()))

    assert out.getvalue().strip() == "indexed 1 events; 1 unfinished events wait for a worker"
    assert set(WebhookEvent.objects.mentioning_any([("order_id", n) for n in (1, 2, 3, 4)])) == set(old)
    assert list(WebhookEvent.objects.unindexed()) == [waiting]


def test_it_deletes_index_rows_with_their_event_in_retention(settings: Any) -> None:
    event = store_event("orders/updated", ORDER, status=EventStatus.PROCESSED)
    indexer.index(event)
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=event.received_at.replace(year=2000))

    WebhookEvent.objects.expired(14).delete_in_batches(pause=0)

    assert not EventSubject.objects.exists()


def test_it_costs_the_worker_two_writes_in_one_transaction_per_event() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    event = store_event("orders/updated", ORDER)
    with CaptureQueriesContext(connection) as queries:
        indexer.index(event)
    writes = [q["sql"].split()[0] for q in queries.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    assert writes == ["INSERT", "UPDATE"]


@pytest.mark.postgres
def test_it_answers_from_the_lookup_index_on_postgresql() -> None:
    from django.db import connection

    store_event("orders/updated", ORDER)
    sql, params = EventSubject.objects.matching("email", "jon.snow@example.com").values("event_id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = json.dumps(cursor.fetchall())
        cursor.execute("SET enable_seqscan = on")
    assert "webhooks_subject_lookup" in plan


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.integers(min_value=1000, max_value=9999), min_size=1, max_size=5, unique=True))
def test_it_finds_exactly_the_events_that_name_an_order(names: list[int]) -> None:
    events = {n: store_event("orders/updated", {"id": n, "name": f"#{n}"}) for n in names}
    for event in events.values():
        indexer.index(event)
    for n, event in events.items():
        assert list(WebhookEvent.objects.matching_search(f"#{n}")) == [event]
    WebhookEvent.objects.filter(pk__in=[e.pk for e in events.values()]).delete()


@pytest.mark.django_db
def test_it_finds_a_customer_by_phone_whatever_format_the_event_stored() -> None:
    international = store_event("orders/create", {"id": 1, "phone": "+16135550135"})
    national = store_event("orders/create", {"id": 2, "phone": "613-555-0135"})
    indexer.reindex([international, national], clear=False)
    for asked in ("+16135550135", "613-555-0135", "1 (613) 555 0135"):
        assert set(WebhookEvent.objects.mentioning("phone", asked)) == {international, national}, asked
    assert not WebhookEvent.objects.mentioning("phone", "+16135550136").exists()


@given(national=st.from_regex(r"[2-9][0-9]{9}", fullmatch=True), country=st.sampled_from(["", "1", "+1", "+1 ", "1-"]))
def test_it_normalises_a_phone_to_one_value_with_or_without_country_code(national: str, country: str) -> None:
    dashed = f"{national[:3]}-{national[3:6]}-{national[6:]}"
    assert subjects.normalise(subjects.PHONE, country + dashed) == subjects.normalise(subjects.PHONE, national)
