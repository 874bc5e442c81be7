import json

import pytest

from messaging.webhooks.providers import mailgun
from messaging.webhooks.providers.base import ConfigurationError, MalformedPayload, SignatureError

from .helpers import fixture_bytes, fixture_json

URL = "https://tidings.example.com/webhooks/mailgun/"
KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
OTHER_KEY = "key-other-signing-key-0000000000000"
TOKEN = "651869375b9df3c98fc15c4889b102119add1235c38fc92824"


@pytest.fixture
def event_data():
    return fixture_json("mailgun", "failed_permanent_bounce")["event-data"]


@pytest.fixture
def body(event_data):
    return mailgun.signed_body(event_data, KEY, token=TOKEN, timestamp=1717237000)


def verify(body, secrets, now=1717237060):
    # The fixtures were signed in June 2024; verify as of then.
    mailgun.verify(body=body, headers={}, url=URL, secrets=secrets, now=now)


def test_a_valid_signature_passes(body):
    verify(body, [KEY])


def test_the_fixtures_are_signed_with_the_fixture_key():
    verify(fixture_bytes("mailgun", "delivered"), ["fixture-signing-key"], now=1717236902)


def test_a_missing_signature_block_fails(event_data):
    with pytest.raises(SignatureError):
        verify(json.dumps({"event-data": event_data}).encode(), [KEY])


def test_an_incomplete_signature_block_fails(body):
    payload = json.loads(body)
    del payload["signature"]["signature"]
    with pytest.raises(SignatureError):
        verify(json.dumps(payload).encode(), [KEY])


def test_a_body_that_is_not_json_is_malformed_not_unsigned():
    with pytest.raises(MalformedPayload):
        verify(b"not json", [KEY])


def test_a_wrong_signature_fails(body):
    payload = json.loads(body)
    payload["signature"]["signature"] = "0" * 64
    with pytest.raises(SignatureError):
        verify(json.dumps(payload).encode(), [KEY])


def test_a_changed_signature_timestamp_fails(body):
    payload = json.loads(body)
    payload["signature"]["timestamp"] = "1717237001"
    with pytest.raises(SignatureError):
        verify(json.dumps(payload).encode(), [KEY])


def test_one_flipped_byte_in_the_signature_block_fails(body):
    payload = json.loads(body)
    token = payload["signature"]["token"]
    payload["signature"]["token"] = token[:-1] + chr(ord(token[-1]) ^ 1)
    with pytest.raises(SignatureError):
        verify(json.dumps(payload).encode(), [KEY])


def test_the_body_is_not_covered_so_a_forged_event_reuses_the_signature(body):
    # Why the view must refuse a seen signature with a different event.
    payload = json.loads(body)
    payload["event-data"]["event"] = "delivered"
    forged = json.dumps(payload).encode()
    verify(forged, [KEY])
    assert mailgun.signature_of(forged, [KEY]) == mailgun.signature_of(body, [KEY])
    assert mailgun.event_fingerprint(forged) != mailgun.event_fingerprint(body)


def test_the_wrong_key_fails(body):
    with pytest.raises(SignatureError):
        verify(body, [OTHER_KEY])


def test_rotation_passes_with_the_right_key_second(body):
    verify(body, [OTHER_KEY, KEY])


def test_no_configured_key_is_a_configuration_error(body):
    with pytest.raises(ConfigurationError):
        verify(body, [])
