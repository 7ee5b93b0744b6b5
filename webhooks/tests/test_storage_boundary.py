"""Untrusted text stored outside the pipeline's own attempt rows: JSON values (headers,
job details), a destination's answer in its breaker, rejected-delivery counters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from webhooks import textsafe
from webhooks.models import ForwardDestination

# Every code point, lone surrogates and NUL included.
anything = st.text(st.characters(exclude_categories=()), max_size=50)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | anything,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(anything, inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_it_cleans_every_string_of_a_json_value_and_keeps_its_shape(value):
    cleaned = textsafe.clean_json(value)
    stack = [(value, cleaned)]
    while stack:
        before, after = stack.pop()
        if isinstance(before, str):
            assert after == textsafe.clean(before, None)
            after.encode("utf-8")
        elif isinstance(before, list):
            assert isinstance(after, list) and len(after) == len(before)
            stack.extend(zip(before, after, strict=True))
        elif isinstance(before, dict):
            assert isinstance(after, dict)
            assert set(after) == {textsafe.clean(k, None) for k in before}
            stack.extend((v, after[textsafe.clean(k, None)]) for k, v in before.items())
        else:
            assert after == before


def test_it_cleans_a_json_value_nested_deeper_than_python_recurses():
    deep: object = "a\x00"
    for _ in range(5000):
        deep = [deep]
    cleaned = textsafe.clean_json(deep)
    for _ in range(5000):
        cleaned = cleaned[0]  # type: ignore[index]
    assert cleaned == "a\ufffd"


@pytest.mark.django_db
@given(answer=st.text(st.characters(exclude_categories=()), max_size=3000))
def test_it_stores_any_destination_answer_as_the_breakers_last_error(answer):
    destination, _ = ForwardDestination.objects.get_or_create(name="app", defaults={"url": "http://127.0.0.1:9/"})
    destination.record_failure(answer)
    stored = ForwardDestination.objects.get(pk=destination.pk).last_error
    assert stored == textsafe.for_field(ForwardDestination, "last_error", answer)
