"""Tracking tokens follow the deployment's key: a rotated SECRET_KEY signs
new URLs, and URLs signed with a key kept in SECRET_KEY_FALLBACKS still
verify (the signers are cached per key, so this is what the cache must keep)."""

import pytest

from messaging.tracking.tokens import (
    InvalidToken,
    make_token,
    make_unsubscribe_token,
    read_token,
    read_unsubscribe_token,
)

OLD = "the key this deployment used to have, long enough for tests"
NEW = "the key this deployment has now, also long enough for tests"


def test_a_rotated_key_signs_anew_and_the_fallback_still_verifies(settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD, []
    click, unsubscribe = make_token(message_id=7, link_id=3), make_unsubscribe_token(7)

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW, [OLD]
    assert make_token(message_id=7, link_id=3) != click
    assert (read_token(click).message_id, read_token(click).link_id) == (7, 3)
    assert read_unsubscribe_token(unsubscribe) == 7

    settings.SECRET_KEY_FALLBACKS = []  # the old key retired: its URLs die
    with pytest.raises(InvalidToken):
        read_token(click)
    with pytest.raises(InvalidToken):
        read_unsubscribe_token(unsubscribe)
