"""Erasing one customer from a payload by its structure, and their identifying strings from
our own free texts. Every walk uses an explicit stack: no recursion limit.

In a payload, only objects that belong to the customer are touched:
- a customer object (the top level of `customers/*`, any `customer` object, the customer
  of a privacy request) whose id is theirs, or that has no id and their e-mail: every
  personal field in it, its addresses included, is erased;
- an order (the top level of `orders/*`, `draft_orders/*`, `checkouts/*`, any `order`
  object) whose customer is theirs, whose id is one of their orders, or that names no
  customer and has their e-mail: its own e-mail, phone, notes and browser IP, its billing
  and shipping addresses (coordinates included) and its customer;
- the top level of `refunds/*` and `fulfillments/*` for one of their orders, the same way.
Objects of anyone else and non-personal fields (titles, vendors, amounts, ids, times) stay.

In free texts (errors, tracebacks, notes, reports) only whole identifying strings go: the
customer's e-mails, phones and full name as written in their customer objects; never a
single word such as a first name or a city on its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import models
from django.db.models import Q

from webhooks import subjects
from webhooks.jsonwalk import map_strings

REDACTED = "[redacted]"
# What shop/redact leaves in place of a text it erased.
ERASED = "[erased: shop redacted]"
# Personal fields of a person or of an address; erased inside the objects listed below.
PERSON_FIELDS = frozenset({
    "email", "contact_email", "phone", "first_name", "last_name", "name", "address1", "address2", "city", "zip",
    "province", "province_code", "company", "latitude", "longitude", "note", "multipass_identifier",
})
# An order's own personal fields, at its top level (its "name" is the order number: kept).
ORDER_FIELDS = frozenset({"email", "contact_email", "phone", "note", "browser_ip", "note_attributes"})
# An order's parts that are all about the person: every PART_FIELDS key inside is erased.
ORDER_PARTS = frozenset({"billing_address", "shipping_address", "customer", "client_details", "destination"})
PART_FIELDS = PERSON_FIELDS | {"browser_ip"}
# A needle shorter than this would match too much (initials, area codes).
MIN_NEEDLE = 5


@dataclass
class Found:
    """What an erasure removed: the identifying strings for free texts, and the ids of
    orders found to belong to the customer (their refunds and fulfillments are theirs too)."""

    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    order_ids: set[str] = field(default_factory=set)

    @property
    def needles(self) -> set[str]:
        return {n for n in (*self.emails, *self.phones, *self.names) if len(n) >= MIN_NEEDLE and n != REDACTED}


@dataclass
class Owner:
    """The customer of a redaction: Shopify's id, e-mail, phone and orders to redact."""

    customer_id: str
    email: str = ""
    phone: str = ""
    order_ids: set[str] = field(default_factory=set)

    def owns_customer(self, obj: dict[str, Any]) -> bool:
        cid = subjects.normalise(subjects.CUSTOMER_ID, obj.get("id"))
        if cid is not None:
            return cid == self.customer_id
        return self._same_email(obj.get("email"))

    def _same_email(self, value: Any) -> bool:
        email = subjects.normalise(subjects.EMAIL, value)
        return email is not None and email == subjects.normalise(subjects.EMAIL, self.email)

    def owns_order(self, obj: dict[str, Any], id_kind: str) -> bool:
        customer = obj.get("customer")
        if isinstance(customer, dict) and customer.get("id") not in (None, ""):
            return self.owns_customer(customer)
        cid = subjects.normalise(subjects.CUSTOMER_ID, obj.get("customer_id"))
        if cid is not None:
            return cid == self.customer_id
        if id_kind == subjects.ORDER_ID and subjects.normalise(subjects.ORDER_ID, obj.get("id")) in self.order_ids:
            return True
        return self._same_email(obj.get("email"))


def _erase_value(value: Any) -> Any:
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, list):
        return []
    return None


def _erase_fields(obj: dict[str, Any], keys: frozenset[str], found: Found, *, deep: bool) -> bool:
    """Erase `keys` in `obj` (and, when `deep`, in every object inside it); True if any was set."""
    changed = False
    stack: list[Any] = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
            continue
        if not isinstance(item, dict):
            continue
        first, last = item.get("first_name"), item.get("last_name")
        if isinstance(first, str) and isinstance(last, str) and first.strip() and last.strip():
            found.names.add(f"{first.strip()} {last.strip()}")
        for key, value in list(item.items()):
            if key in keys and value not in (None, "", [], {}) and value != REDACTED:
                if key in ("email", "contact_email") and isinstance(value, str):
                    found.emails.add(value.strip())
                elif key == "phone" and isinstance(value, str | int):
                    found.phones.add(str(value).strip())
                item[key] = _erase_value(value)
                changed = True
            elif deep and isinstance(value, dict | list):
                stack.append(value)
    return changed


def erase_owned(topic: str, payload: Any, owner: Owner, found: Found) -> bool:
    """Erase, in place, the personal fields of every object of `payload` that belongs to
    `owner` (see the module docstring); True when anything changed."""
    family = topic.split("/", 1)[0]
    changed = False
    if family in ("refunds", "fulfillments") and isinstance(payload, dict):
        order_id = subjects.normalise(subjects.ORDER_ID, payload.get("order_id"))
        if order_id is not None and order_id in owner.order_ids:
            changed |= _erase_fields(payload, ORDER_FIELDS | {"email", "phone"}, found, deep=False)
            for part in ORDER_PARTS:
                if isinstance(payload.get(part), dict | list):
                    changed |= _erase_fields({"_": payload[part]}, PART_FIELDS, found, deep=True)
    stack: list[tuple[Any, str]] = [(payload, subjects.root_role(topic))]
    while stack:
        value, role = stack.pop()
        if isinstance(value, list):
            stack.extend((item, "") for item in value)
            continue
        if not isinstance(value, dict):
            continue
        if role == subjects.CUSTOMER_ROLE and owner.owns_customer(value):
            changed |= _erase_fields(value, PERSON_FIELDS, found, deep=True)
            continue
        if role in subjects.ORDER_LIKE.values() and owner.owns_order(value, role):
            if role == subjects.ORDER_ID:
                order_id = subjects.normalise(subjects.ORDER_ID, value.get("id"))
                if order_id is not None:
                    found.order_ids.add(order_id)
            changed |= _erase_fields(value, ORDER_FIELDS, found, deep=False)
            for part in ORDER_PARTS:
                if isinstance(value.get(part), dict | list):
                    changed |= _erase_fields({"_": value[part]}, PART_FIELDS, found, deep=True)
        for key, child in value.items():
            if isinstance(child, dict):
                stack.append((child, subjects.CUSTOMER_ROLE if key == "customer" else subjects.ORDER_ID if key == "order" else ""))
            elif isinstance(child, list):
                stack.append((child, ""))
    return changed


# --- free texts ----------------------------------------------------------------------------


def needle_pattern(needles: Iterable[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for whole occurrences of any needle, longest first."""
    ordered = sorted({n for n in needles if len(n) >= MIN_NEEDLE}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in ordered) + r")(?!\w)", re.IGNORECASE)


def replace_text(value: Any, pattern: re.Pattern[str] | None) -> Any:
    """A copy of a JSON value (or a string) with every needle replaced, keys included."""
    if pattern is None:
        return value
    return map_strings(value, lambda text: pattern.sub(REDACTED, text))


def _spellings(needle: str) -> set[str]:
    # How a needle can be written in stored JSON text: as is, or \u-escaped (SQLite's JSON).
    return {needle, json.dumps(needle)[1:-1]}


def scrub_texts(qs: models.QuerySet[Any], fields: Iterable[str], needles: Iterable[str]) -> int:
    """Replace the needles in these text or JSON fields of the rows of `qs`; returns the rows
    changed. The database finds the candidate rows (a case-insensitive LIKE per needle and
    field): only those are read and rewritten."""
    fields, needles = list(fields), sorted(set(needles))
    pattern = needle_pattern(needles)
    if pattern is None or not fields:
        return 0
    where = Q()
    for name in fields:
        for needle in needles:
            for spelling in _spellings(needle):
                where |= Q(**{f"{name}__icontains": spelling})
    changed = 0
    # Read at once, not through a server-side cursor: the rows are few, and a cursor makes
    # PostgreSQL plan for the first rows (a walk of a big index) instead of for all of them.
    for row in list(qs.filter(where).only("pk", *fields)):
        values = {name: getattr(row, name) for name in fields}
        clean = {name: replace_text(value, pattern) for name, value in values.items()}
        updates = {name: clean[name] for name in fields if clean[name] != values[name]}
        if updates:
            type(row)._base_manager.filter(pk=row.pk).update(**updates)
            changed += 1
    return changed
