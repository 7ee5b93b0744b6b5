"""Can a replay help? The verdict at the top of a dead letter's page."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from deadletters.verdict import Chance, replay_verdict


def test_it_says_a_permanent_error_or_invalid_payload_fails_again_and_suggests_ignore():
    for error_class, what in (("webhooks.errors.PayloadInvalid", "data"), ("webhooks.errors.PermanentError", "code"),
                              ("webhooks.shopify_api.TokenInvalid", "configuration")):
        verdict = replay_verdict(error_class, "whatever it said")
        assert verdict.chance == Chance.UNLIKELY and verdict.suggest_ignore, error_class
        assert what in verdict.advice


def test_it_says_a_destination_outage_is_likely_to_pass():
    for error_class, message in (
        ("webhooks.forwarding.ForwardFailed", "HTTP 503 from https://app.example/hooks: busy"),
        ("webhooks.forwarding.ForwardFailed", "ConnectionError: connection refused"),
        ("requests.exceptions.ReadTimeout", "no complete answer within 5 s"),
        ("webhooks.shopify_api.AdminAPIError", "GET /orders.json: HTTP 429: slow down"),
    ):
        verdict = replay_verdict(error_class, message)
        assert verdict.chance == Chance.LIKELY and not verdict.suggest_ignore, message


def test_it_says_a_refusal_by_the_destination_needs_a_change_first():
    verdict = replay_verdict("webhooks.forwarding.ForwardFailed", "HTTP 404 from https://app.example/gone: ")
    assert verdict.chance == Chance.UNLIKELY and "HTTP 404" in verdict.advice and verdict.suggest_ignore


def test_anything_else_is_unclear_and_points_at_a_dry_run():
    verdict = replay_verdict("KeyError", "'customer'")
    assert verdict.chance == Chance.UNCLEAR and "dry run" in verdict.advice


@given(st.text(max_size=40), st.text(max_size=200))
def test_every_error_gets_one_plain_verdict_and_ignore_only_when_a_replay_will_not_help(error_class, message):
    verdict = replay_verdict(error_class, message)
    assert verdict.chance in set(Chance)
    assert verdict.headline.endswith(".") and verdict.advice
    assert verdict.suggest_ignore == (verdict.chance == Chance.UNLIKELY)
