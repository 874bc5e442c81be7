import pytest

from messaging.webhooks.providers import sendgrid
from messaging.webhooks.providers.base import (
    ConfigurationError,
    SignatureError,
    generate_p256_keypair,
)

from .helpers import fixture_bytes, flip_one_byte

URL = "https://tidings.example.com/webhooks/sendgrid/"
TIMESTAMP = 1717236000


@pytest.fixture(scope="module")
def keypair():
    return generate_p256_keypair()


@pytest.fixture(scope="module")
def other_keypair():
    return generate_p256_keypair()


@pytest.fixture
def body():
    return fixture_bytes("sendgrid", "batch")


def signed(body, private_pem):
    return sendgrid.sign(body=body, url=URL, secret=private_pem, timestamp=TIMESTAMP)


def test_a_valid_signature_passes(keypair, body):
    private_pem, public_key = keypair
    sendgrid.verify(body=body, headers=signed(body, private_pem), url=URL, secrets=[public_key])


def test_the_public_key_is_the_base64_der_spki_that_sendgrid_shows(keypair):
    assert keypair[1].startswith("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE")


def test_header_names_are_matched_case_insensitively(keypair, body):
    private_pem, public_key = keypair
    headers = {name.lower(): value for name, value in signed(body, private_pem).items()}
    sendgrid.verify(body=body, headers=headers, url=URL, secrets=[public_key])


@pytest.mark.parametrize("missing", [sendgrid.SIGNATURE_HEADER, sendgrid.TIMESTAMP_HEADER])
def test_a_missing_header_fails(keypair, body, missing):
    private_pem, public_key = keypair
    headers = signed(body, private_pem)
    del headers[missing]
    with pytest.raises(SignatureError):
        sendgrid.verify(body=body, headers=headers, url=URL, secrets=[public_key])


def test_a_wrong_signature_fails(keypair, other_keypair, body):
    headers = signed(body, other_keypair[0])
    with pytest.raises(SignatureError):
        sendgrid.verify(body=body, headers=headers, url=URL, secrets=[keypair[1]])


def test_a_signature_that_is_not_base64_fails(keypair, body):
    headers = {**signed(body, keypair[0]), sendgrid.SIGNATURE_HEADER: "%%%not-base64%%%"}
    with pytest.raises(SignatureError):
        sendgrid.verify(body=body, headers=headers, url=URL, secrets=[keypair[1]])


def test_one_flipped_body_byte_fails(keypair, body):
    headers = signed(body, keypair[0])
    with pytest.raises(SignatureError):
        sendgrid.verify(body=flip_one_byte(body), headers=headers, url=URL, secrets=[keypair[1]])


def test_a_changed_timestamp_fails(keypair, body):
    headers = {**signed(body, keypair[0]), sendgrid.TIMESTAMP_HEADER: str(TIMESTAMP + 1)}
    with pytest.raises(SignatureError):
        sendgrid.verify(body=body, headers=headers, url=URL, secrets=[keypair[1]])


def test_the_wrong_public_key_fails(keypair, other_keypair, body):
    headers = signed(body, keypair[0])
    with pytest.raises(SignatureError):
        sendgrid.verify(body=body, headers=headers, url=URL, secrets=[other_keypair[1]])


def test_rotation_passes_with_the_right_key_second(keypair, other_keypair, body):
    headers = signed(body, keypair[0])
    sendgrid.verify(body=body, headers=headers, url=URL, secrets=[other_keypair[1], keypair[1]])


def test_a_key_wrapped_in_pem_lines_also_loads(keypair, body):
    pem = f"-----BEGIN PUBLIC KEY-----\n{keypair[1]}\n-----END PUBLIC KEY-----\n"
    sendgrid.verify(body=body, headers=signed(body, keypair[0]), url=URL, secrets=[pem])


def test_no_configured_key_is_a_configuration_error(keypair, body):
    with pytest.raises(ConfigurationError):
        sendgrid.verify(body=body, headers=signed(body, keypair[0]), url=URL, secrets=[])


def test_a_key_that_does_not_load_is_a_configuration_error(keypair, body):
    with pytest.raises(ConfigurationError):
        sendgrid.verify(
            body=body, headers=signed(body, keypair[0]), url=URL, secrets=["bm90IGEga2V5"]
        )
