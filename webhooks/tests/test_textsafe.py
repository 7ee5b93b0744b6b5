"""The storage boundary for untrusted text: nothing it returns can break a database or a page."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from webhooks import textsafe
from webhooks.models import EventAttempt


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_it_returns_storable_text_within_the_limit(text: str, limit: int) -> None:
    out = textsafe.clean(text, limit)
    assert "\x00" not in out
    assert len(out) <= limit
    out.encode("utf-8")  # raises on a lone surrogate


def test_it_replaces_nul_and_lone_surrogates_and_keeps_the_rest() -> None:
    assert textsafe.clean("a\x00b\ud800c") == "a\ufffdb\ufffdc"


def test_it_reads_the_limit_from_the_field() -> None:
    assert len(textsafe.for_field(EventAttempt, "error_class", "x" * 1000)) == 255
    assert len(textsafe.for_field(EventAttempt, "traceback", "x" * 100_000)) == textsafe.TEXT_LIMIT
