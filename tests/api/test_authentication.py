import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from campaigns.models import Campaign
from messaging.models import Person
from tests.api.conftest import ENDPOINTS

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_answers_401_without_a_token(anonymous, method, path, body):
    response = getattr(anonymous, method)(path, body)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "detail" in response.json()


@pytest.mark.parametrize(("method", "path", "body"), ENDPOINTS)
def test_every_endpoint_answers_401_for_a_wrong_token(token, method, path, body):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key[:-1]}x")
    response = getattr(client, method)(path, body)
    assert response.status_code == 401
    assert Person.objects.count() == 0
    assert Campaign.objects.count() == 0


def test_a_logged_in_session_is_enough(user):
    client = APIClient()
    client.force_login(user)
    assert client.get("/api/v1/campaigns/").status_code == 200


def test_drf_create_token_makes_a_working_token(user, capsys):
    call_command("drf_create_token", user.username)
    key = Token.objects.get(user=user).key
    assert key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/people/").status_code == 200


def test_the_api_takes_json_only(api):
    response = api.post("/api/v1/campaigns/", {"name": "c"}, format="multipart")
    assert response.status_code == 415
    assert Campaign.objects.count() == 0


def test_the_api_answers_json_for_an_unknown_path(api):
    response = api.get("/api/v1/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


def test_the_schema_and_the_docs_are_served(anonymous):
    schema = anonymous.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/send/" in paths
    assert "/api/v1/campaigns/{id}/metrics/" in paths
    docs = anonymous.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()


def test_the_api_answers_json_for_a_path_id_that_is_no_integer(api):
    for path in ("/api/v1/campaigns/abc/", "/api/v1/messages/1%0A/", "/api/v1/x%0Ay/"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}


def test_a_path_without_its_trailing_slash_says_so(api):
    response = api.get("/api/v1/campaigns")
    assert response.status_code == 404
    assert response.json()["detail"].endswith("/api/v1/campaigns/")
