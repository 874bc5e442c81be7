import json

import pytest

from messaging.webhooks.providers import ses
from messaging.webhooks.providers.base import (
    ConfigurationError,
    MalformedPayload,
    SignatureError,
    generate_rsa_certificate,
)

from .helpers import fixture_json, flip_one_byte

URL = "https://tidings.example.com/webhooks/ses/"
TOPIC = "arn:aws:sns:us-east-1:123456789012:tidings-ses-events"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:123456789012:someone-else"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem"


@pytest.fixture(scope="module")
def signing_key():
    return generate_rsa_certificate()


@pytest.fixture(scope="module")
def other_signing_key():
    return generate_rsa_certificate()


@pytest.fixture(autouse=True)
def certificates(monkeypatch, signing_key):
    # A clean registry holding only the test certificate, and no network.
    monkeypatch.setattr(ses, "_certificates", {})

    def no_fetch(*args, **kwargs):
        raise AssertionError("tests never fetch a certificate")

    monkeypatch.setattr(ses.requests, "get", no_fetch)
    ses.register_certificate(CERT_URL, signing_key[1])


def signed(name, key_pem, *, version="1", cert_url=CERT_URL, **changes):
    envelope = {**fixture_json("ses", name), **changes}
    return ses.sign_envelope(envelope, key_pem, cert_url, version=version)


def verify(envelope, topics=(TOPIC,), headers=None):
    body = envelope if isinstance(envelope, bytes) else json.dumps(envelope).encode()
    ses.verify(body=body, headers=headers or {}, url=URL, secrets=list(topics))


def test_a_v1_sha1_signature_passes(signing_key):
    verify(signed("bounce_permanent_general", signing_key[0], version="1"))


def test_a_v2_sha256_signature_passes(signing_key):
    verify(signed("bounce_permanent_general", signing_key[0], version="2"))


def test_a_notification_without_subject_passes(signing_key):
    envelope = fixture_json("ses", "open")
    del envelope["Subject"]
    verify(ses.sign_envelope(envelope, signing_key[0], CERT_URL, version="2"))


def test_a_subscription_confirmation_passes(signing_key):
    verify(signed("subscription_confirmation", signing_key[0]))


def test_matching_sns_headers_pass(signing_key):
    envelope = signed("delivery", signing_key[0])
    verify(envelope, headers=ses.sns_headers(envelope))


def test_a_message_type_header_that_disagrees_with_the_body_fails(signing_key):
    envelope = signed("delivery", signing_key[0])
    headers = {**ses.sns_headers(envelope), "x-amz-sns-message-type": "SubscriptionConfirmation"}
    with pytest.raises(SignatureError):
        verify(envelope, headers=headers)


def test_a_missing_signature_fails(signing_key):
    envelope = signed("delivery", signing_key[0])
    del envelope["Signature"]
    with pytest.raises(SignatureError):
        verify(envelope)


def test_a_signature_by_another_key_fails(other_signing_key):
    with pytest.raises(SignatureError):
        verify(signed("delivery", other_signing_key[0]))


def test_one_flipped_body_byte_fails(signing_key):
    body = json.dumps(signed("delivery", signing_key[0])).encode()
    with pytest.raises(SignatureError):
        verify(flip_one_byte(body, body.index(b"smtpResponse")))


def test_a_changed_message_fails(signing_key):
    envelope = signed("delivery", signing_key[0])
    envelope["Message"] = envelope["Message"].replace("Delivery", "Bounce", 1)
    with pytest.raises(SignatureError):
        verify(envelope)


def test_a_claimed_v1_signature_made_with_sha256_fails(signing_key):
    envelope = signed("delivery", signing_key[0], version="2")
    envelope["SignatureVersion"] = "1"
    with pytest.raises(SignatureError):
        verify(envelope)


def test_an_unknown_signature_version_fails(signing_key):
    envelope = signed("delivery", signing_key[0])
    envelope["SignatureVersion"] = "3"
    with pytest.raises(SignatureError):
        verify(envelope)


def test_an_unknown_topic_arn_is_refused(signing_key):
    with pytest.raises(SignatureError):
        verify(signed("delivery", signing_key[0]), topics=[OTHER_TOPIC])


def test_rotation_passes_with_the_right_topic_second(signing_key):
    verify(signed("delivery", signing_key[0]), topics=[OTHER_TOPIC, TOPIC])


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example.com/SimpleNotificationService-test.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-test.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-test.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-test.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.pem",
        "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-test.txt",
        "https://s3.amazonaws.com/SimpleNotificationService-test.pem",
    ],
)
def test_a_signing_cert_url_outside_sns_fails_even_when_registered(signing_key, cert_url):
    ses.register_certificate(cert_url, signing_key[1])
    with pytest.raises(SignatureError):
        verify(signed("delivery", signing_key[0], cert_url=cert_url))


def test_a_china_region_cert_url_is_accepted(signing_key):
    cert_url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-test.pem"
    ses.register_certificate(cert_url, signing_key[1])
    verify(signed("delivery", signing_key[0], cert_url=cert_url))


def test_a_body_that_is_not_json_is_malformed_not_unsigned():
    with pytest.raises(MalformedPayload):
        verify(b"not json")


def test_no_configured_topic_is_a_configuration_error(signing_key):
    with pytest.raises(ConfigurationError):
        verify(signed("delivery", signing_key[0]), topics=[])


class FakeResponse:
    def __init__(self, content: bytes, status: int = 200):
        self.content = content
        self.status = status

    def raise_for_status(self):
        if self.status >= 400:
            raise ses.requests.HTTPError(f"{self.status}")


def test_an_unregistered_certificate_is_fetched_once_and_cached(monkeypatch, signing_key):
    cert_url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-new.pem"
    calls = []

    def fake_get(url, timeout):
        calls.append((url, timeout))
        return FakeResponse(signing_key[1].encode())

    monkeypatch.setattr(ses.requests, "get", fake_get)
    verify(signed("delivery", signing_key[0], cert_url=cert_url))
    verify(signed("open", signing_key[0], cert_url=cert_url))
    assert calls == [(cert_url, 5)]


def test_a_failed_certificate_fetch_fails_the_signature(monkeypatch, signing_key):
    cert_url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-gone.pem"
    monkeypatch.setattr(ses.requests, "get", lambda url, timeout: FakeResponse(b"", 404))
    with pytest.raises(SignatureError):
        verify(signed("delivery", signing_key[0], cert_url=cert_url))


def test_load_certificate_never_fetches_from_a_foreign_host():
    with pytest.raises(SignatureError):
        ses.load_certificate("https://evil.example.com/cert.pem")
