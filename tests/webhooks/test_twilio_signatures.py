import pytest
from twilio.request_validator import HMAC_SHA256

from messaging.webhooks.providers import twilio
from messaging.webhooks.providers.base import ConfigurationError, SignatureError

from .helpers import fixture_bytes

URL = "https://tidings.example.com/webhooks/twilio/?tidings_message_id=101"
TOKEN = "12345678901234567890123456789012"
OTHER_TOKEN = "abcdefabcdefabcdefabcdefabcdefab"


@pytest.fixture
def body():
    return fixture_bytes("twilio", "undelivered_30005")


def test_a_valid_signature_passes(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_it_matches_twilios_documented_example():
    # twilio-python's own test vector (webhooks-security docs).
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    body = (
        b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234"
        b"&From=%2B12349013030&To=%2B18005551212"
    )
    headers = {"X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}
    twilio.verify(body=body, headers=headers, url=url, secrets=["12345"])


def test_the_header_is_matched_case_insensitively(body):
    headers = {
        "x-twilio-signature": twilio.sign(body=body, url=URL, secret=TOKEN)["X-Twilio-Signature"]
    }
    twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_a_missing_signature_fails(body):
    with pytest.raises(SignatureError):
        twilio.verify(body=body, headers={}, url=URL, secrets=[TOKEN])


def test_a_wrong_signature_fails(body):
    headers = {"X-Twilio-Signature": "bm90IHRoZSByaWdodCBvbmU="}
    with pytest.raises(SignatureError):
        twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_a_changed_form_parameter_fails(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    forged = body.replace(b"ErrorCode=30005", b"ErrorCode=30003")
    assert forged != body
    with pytest.raises(SignatureError):
        twilio.verify(body=forged, headers=headers, url=URL, secrets=[TOKEN])


def test_one_flipped_body_byte_fails(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    forged = body.replace(b"MessageStatus=undelivered", b"MessageStatus=undelivereD")
    with pytest.raises(SignatureError):
        twilio.verify(body=forged, headers=headers, url=URL, secrets=[TOKEN])


def test_a_changed_message_id_in_the_url_fails(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    other_url = URL.replace("=101", "=102")
    with pytest.raises(SignatureError):
        twilio.verify(body=body, headers=headers, url=other_url, secrets=[TOKEN])


def test_the_wrong_auth_token_fails(body):
    headers = twilio.sign(body=body, url=URL, secret=OTHER_TOKEN)
    with pytest.raises(SignatureError):
        twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_rotation_passes_with_the_right_token_second(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    twilio.verify(body=body, headers=headers, url=URL, secrets=[OTHER_TOKEN, TOKEN])


def test_an_explicit_default_port_in_the_signed_url_still_passes(body):
    signed_url = URL.replace("tidings.example.com", "tidings.example.com:443")
    headers = twilio.sign(body=body, url=signed_url, secret=TOKEN)
    twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_a_connection_override_fragment_is_ignored(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    twilio.verify(body=body, headers=headers, url=URL + "#rc=3&rp=all", secrets=[TOKEN])


def test_a_sha256_shared_key_signature_passes(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN, algorithm=HMAC_SHA256)
    twilio.verify(body=body, headers=headers, url=URL, secrets=[TOKEN])


def test_no_configured_token_is_a_configuration_error(body):
    headers = twilio.sign(body=body, url=URL, secret=TOKEN)
    with pytest.raises(ConfigurationError):
        twilio.verify(body=body, headers=headers, url=URL, secrets=[""])
