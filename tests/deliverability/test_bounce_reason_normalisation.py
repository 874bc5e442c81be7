"""The bounce-reason normaliser, stated as properties: what varies per
message (codes, addresses, ids, hosts, URLs) never changes the reason."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaigns.deliverability import NO_REASON, normalise_bounce_reason

WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=10)
TEXT = st.lists(WORD, min_size=1, max_size=8).map(" ".join)
LOCAL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=12)
ADDRESS = st.builds(lambda local, domain: f"{local.strip('.')}x@{domain}.com", LOCAL, WORD)
BASIC = st.sampled_from(["550", "552", "554", "421", "450", "451", "452", "553"])
ENHANCED = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}",
    st.sampled_from([4, 5]),
    st.integers(0, 7),
    st.integers(0, 30),
)
ID = st.text(alphabet="0123456789abcdef", min_size=6, max_size=24).map(lambda s: s + "7")


@given(text=TEXT, basic=BASIC, enhanced=ENHANCED, address=ADDRESS, other=ADDRESS, id_=ID)
def test_codes_addresses_and_ids_never_change_the_reason(
    text, basic, enhanced, address, other, id_
):
    plain = normalise_bounce_reason(text)
    assert normalise_bounce_reason(f"{basic} {enhanced} <{address}>: {text}") == plain
    assert normalise_bounce_reason(f"{basic}-{enhanced} {text} ({other}) {id_} - ") == plain
    assert normalise_bounce_reason(f"smtp; {basic} #{enhanced} {text.upper()} [{id_}]") == plain


@given(text=TEXT)
def test_the_reason_is_lower_case_words_and_never_longer_than_two_hundred(text):
    reason = normalise_bounce_reason(text * 30)
    assert len(reason) <= 200
    assert reason == reason.lower().strip()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("550 5.1.1 <x@y.com>: user unknown", "user unknown"),
        ("550-5.1.1 User unknown (bob@example.org)", "user unknown"),
        ("smtp; 550 5.1.1 user unknown", "user unknown"),
        ("554 5.7.1 Service unavailable; Client host [203.0.113.9] blocked using zen.spamhaus.org",
         "service unavailable client host blocked using"),
        ("", NO_REASON),
        ("550 5.1.1", NO_REASON),
    ],
)  # fmt: skip
def test_known_texts_normalise_as_expected(raw, reason):
    assert normalise_bounce_reason(raw) == reason
