"""Reopening a resolved or ignored dead letter: open again, with the reason."""

from __future__ import annotations

import pytest

from deadletters.models import DeadLetter
from deadletters.tests.factories import bulk_dead_letters

pytestmark = pytest.mark.django_db


def test_it_reopens_a_resolved_or_ignored_one_with_its_note(admin_user):
    resolved, ignored = bulk_dead_letters(2)
    resolved.resolve(admin_user, "fixed by hand")
    ignored.ignore(admin_user, "a test shop")
    for dead_letter in (resolved, ignored):
        assert dead_letter.reopen(admin_user, "  not fixed after all  ")
        assert (dead_letter.status, dead_letter.note, dead_letter.resolved_by, dead_letter.resolved_at) == (
            "open", "not fixed after all", None, None)


def test_it_leaves_an_open_one_alone_and_wants_a_note(admin_user):
    (dead_letter,) = bulk_dead_letters(1)
    assert not dead_letter.reopen(admin_user, "why")
    dead_letter.resolve(admin_user, "done")
    with pytest.raises(ValueError, match="note is required"):
        dead_letter.reopen(admin_user, "   ")
    assert DeadLetter.objects.get(pk=dead_letter.pk).status == "resolved"


def test_it_does_not_reopen_when_the_event_died_again_since(admin_user):
    (first,) = bulk_dead_letters(1)
    first.resolve(admin_user, "done")
    newer = DeadLetter.objects.create(event=first.event, topic=first.topic, shop_domain=first.shop_domain,
                                      error_class="RuntimeError", fingerprint=first.fingerprint)
    assert not first.reopen(admin_user, "again")
    assert DeadLetter.objects.filter(event=first.event).unresolved().get() == newer  # one open per event, still
