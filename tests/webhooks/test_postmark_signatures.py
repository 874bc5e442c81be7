import base64

import pytest

from messaging.webhooks.providers import postmark
from messaging.webhooks.providers.base import ConfigurationError, SignatureError

from .helpers import fixture_bytes

URL = "https://tidings.example.com/webhooks/postmark/"
SECRET = "postmark:s3cr3t-pa55"
OTHER_SECRET = "postmark:old-password"


@pytest.fixture
def body():
    return fixture_bytes("postmark", "bounce_hard")


def basic(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def verify(body, headers, secrets):
    postmark.verify(body=body, headers=headers, url=URL, secrets=secrets)


def test_valid_credentials_pass(body):
    verify(body, postmark.sign(body=body, url=URL, secret=SECRET), [SECRET])


def test_the_header_is_matched_case_insensitively(body):
    verify(body, {"authorization": basic(SECRET)["Authorization"]}, [SECRET])


def test_missing_credentials_fail(body):
    with pytest.raises(SignatureError):
        verify(body, {}, [SECRET])


def test_a_bearer_token_is_not_basic_auth(body):
    with pytest.raises(SignatureError):
        verify(body, {"Authorization": "Bearer abc"}, [SECRET])


def test_credentials_that_are_not_base64_fail(body):
    with pytest.raises(SignatureError):
        verify(body, {"Authorization": "Basic %%%"}, [SECRET])


def test_a_wrong_password_fails(body):
    with pytest.raises(SignatureError):
        verify(body, basic("postmark:guess"), [SECRET])


def test_a_wrong_user_fails(body):
    with pytest.raises(SignatureError):
        verify(body, basic("mallory:s3cr3t-pa55"), [SECRET])


def test_one_flipped_credential_byte_fails(body):
    with pytest.raises(SignatureError):
        verify(body, basic("postmark:s3cr3t-pa54"), [SECRET])


def test_rotation_passes_with_the_right_credentials_second(body):
    verify(body, basic(SECRET), [OTHER_SECRET, SECRET])


def test_a_password_may_contain_colons(body):
    verify(body, basic("user:pa:ss"), ["user:pa:ss"])


def test_a_secret_without_a_colon_is_a_configuration_error(body):
    with pytest.raises(ConfigurationError):
        verify(body, basic(SECRET), ["no-colon-here"])


def test_no_configured_secret_is_a_configuration_error(body):
    with pytest.raises(ConfigurationError):
        verify(body, basic(SECRET), [])
