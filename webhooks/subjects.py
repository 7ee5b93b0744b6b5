"""Which customers and orders a payload mentions, found by its structure, never by its text.

`extract(topic, payload)` walks the payload with an explicit stack (no recursion: a payload
nested thousands of levels deep is walked like a flat one) and returns the subjects it
mentions, each a `Subject(kind, value, primary)` with the value normalised by `normalise`:

- customer ids: the top-level object of a `customers/*` event (the privacy requests
  `customers/data_request` and `customers/redact` excepted: their top level is a request),
  every object under a `customer` key, every `customer_id` field;
- e-mails and phones of those customer objects and of orders (`email`, `contact_email`,
  `phone`);
- order ids and order names: the top-level object of `orders/*` (its `id` and `name`),
  `draft_orders/*` and `checkouts/*` (their own id under a kind of its own, their `name`
  and the `order_id` of the order they became), objects under an `order` key, every
  `order_id` field (`refunds/*`, `fulfillments/*`, transactions), a customer's
  `last_order_id` / `last_order_name`, and the order lists of the privacy requests
  (`orders_to_redact`, `orders_requested`).

`primary` marks the event's own resource: the id of its top-level customer, order, draft
order or checkout. Nothing else of a payload (product titles, addresses, amounts) is a
subject. The module is pure: no database; webhooks.subject_index stores what it finds.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

CUSTOMER_ID = "customer_id"
EMAIL = "email"
PHONE = "phone"
ORDER_ID = "order_id"
ORDER_NAME = "order_name"
DRAFT_ORDER_ID = "draft_order_id"
CHECKOUT_ID = "checkout_id"
# A phone is indexed and looked up as its last ten digits, whatever the punctuation and
# whether a country code or a national trunk prefix is written: "+1 613-555-0135",
# "613-555-0135" and "1 (613) 555 0135" are one value, as are "+44 20 7946 0958" and
# "020 7946 0958". Ten digits are a whole North American number and the national part of
# most others; two numbers of different countries sharing their last ten digits would
# share an entry (a lookup finds both; erasure still touches only the customer's objects).
PHONE_DIGITS = 10
KINDS = (CUSTOMER_ID, EMAIL, PHONE, ORDER_ID, ORDER_NAME, DRAFT_ORDER_ID, CHECKOUT_ID)

# The longest value the index stores (EventSubject.value's max_length); a longer one is no
# e-mail, phone, id or order name of Shopify's, and is left out rather than cut.
MAX_VALUE = 255
# Privacy requests: the top level is a request about a customer, not a customer object.
REQUEST_TOPICS = frozenset({"customers/data_request", "customers/redact"})
# Topic families whose top-level object is an order-like resource, and the kind of its id.
ORDER_LIKE = {"orders": ORDER_ID, "draft_orders": DRAFT_ORDER_ID, "checkouts": CHECKOUT_ID}
ORDER_LISTS = ("orders_to_redact", "orders_requested")

_GID = re.compile(r"^gid://shopify/[A-Za-z]+/(\d+)(?:\?.*)?$")
CUSTOMER_ROLE = "customer"
_OTHER = ""


class Subject(NamedTuple):
    kind: str
    value: str
    primary: bool = False


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | str):
        return str(value).strip()
    return None


def normalise(kind: str, value: Any) -> str | None:
    """The form a value is indexed and looked up in, or None when it is no such value:
    e-mails in lower case; phones as their last PHONE_DIGITS digits (see there); order names in lower
    case without the leading '#' ("#1001" and "1001" are one name); ids as their digits
    (a GraphQL id "gid://shopify/Customer/7" is the id 7)."""
    text = _text(value)
    if not text or len(text) > MAX_VALUE:
        return None
    if kind == EMAIL:
        text = text.lower()
        return text if "@" in text else None
    if kind == PHONE:
        digits = "".join(ch for ch in text if ch in "0123456789")
        return digits[-PHONE_DIGITS:] or None
    if kind == ORDER_NAME:
        name = text.lower().lstrip("#").strip()
        return name or None
    if kind in KINDS:
        match = _GID.match(text)
        return match.group(1) if match else text
    raise ValueError(f"unknown subject kind {kind!r}; one of {', '.join(KINDS)}")


def root_role(topic: str) -> str:
    family = topic.split("/", 1)[0]
    if family == "customers" and topic not in REQUEST_TOPICS:
        return CUSTOMER_ROLE
    return ORDER_LIKE.get(family, _OTHER)


def extract(topic: str, payload: Any) -> list[Subject]:
    """The subjects `payload` (of this topic) mentions, each once, in the order found."""
    found: dict[tuple[str, str], bool] = {}

    def add(kind: str, raw: Any, primary: bool = False) -> None:
        value = normalise(kind, raw)
        if value is not None:
            found[kind, value] = found.get((kind, value), False) or primary

    # Each item: a JSON value, its role (customer object, order-like object with the kind
    # of its id, or anything else), and whether it is the payload's top level.
    stack: list[tuple[Any, str, bool]] = [(payload, root_role(topic), True)]
    while stack:
        value, role, top = stack.pop()
        if isinstance(value, list):
            stack.extend((item, _OTHER, False) for item in reversed(value))
            continue
        if not isinstance(value, dict):
            continue
        if role == CUSTOMER_ROLE:
            add(CUSTOMER_ID, value.get("id"), top)
            add(EMAIL, value.get("email"))
            add(PHONE, value.get("phone"))
            add(ORDER_ID, value.get("last_order_id"))
            add(ORDER_NAME, value.get("last_order_name"))
        elif role:
            add(role, value.get("id"), top)
            add(ORDER_NAME, value.get("name"))
            for key in ("email", "contact_email"):
                add(EMAIL, value.get(key))
            add(PHONE, value.get("phone"))
        children: list[tuple[Any, str, bool]] = []
        for key, child in value.items():
            if key == "customer_id":
                add(CUSTOMER_ID, child)
            elif key == "order_id":
                add(ORDER_ID, child)
            elif key in ORDER_LISTS and isinstance(child, list):
                for order in child:
                    add(ORDER_ID, order)
            elif isinstance(child, dict | list):
                child_role = CUSTOMER_ROLE if key == "customer" else ORDER_ID if key == "order" else _OTHER
                children.append((child, child_role if isinstance(child, dict) else _OTHER, False))
        stack.extend(reversed(children))
    return [Subject(kind, value, primary) for (kind, value), primary in found.items()]


def guess(text: str) -> list[tuple[str, str]]:
    """What a person typed into a search box, as the (kind, normalised value) pairs it
    could mean: an e-mail; "#1001" an order name; digits an order id, a customer id or
    an order name; a GraphQL id the id it names. Empty when it can be none of them."""
    text = text.strip()
    if not text:
        return []
    if "@" in text:
        value = normalise(EMAIL, text)
        return [(EMAIL, value)] if value else []
    if text.startswith("#"):
        value = normalise(ORDER_NAME, text)
        return [(ORDER_NAME, value)] if value else []
    match = _GID.match(text)
    if match:
        return [(CUSTOMER_ID, match.group(1)), (ORDER_ID, match.group(1))]
    if text.isascii() and text.isdecimal():
        return [(ORDER_ID, text), (CUSTOMER_ID, text), (ORDER_NAME, text)]
    value = normalise(ORDER_NAME, text)
    return [(ORDER_NAME, value)] if value else []
