import pytest

from messaging.models import Suppression
from tests import factories

pytestmark = pytest.mark.django_db

SUPPRESSION_FIELDS = {
    "id",
    "address",
    "reason",
    "note",
    "message",
    "created_by",
    "created_at",
    "expires_at",
}


def test_adding_a_suppression_answers_201_with_the_row(api, user):
    response = api.post(
        "/api/v1/suppressions/", {"address": "Ann@Example.COM", "note": "asked by phone"}
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == SUPPRESSION_FIELDS
    assert body["address"] == "ann@example.com"
    assert body["reason"] == "manual"
    assert body["note"] == "asked by phone"
    assert body["message"] is None
    assert body["created_by"] == user.username


def test_a_suppression_may_name_a_bounce_or_complaint(api):
    for reason in ("hard_bounce", "spam_complaint"):
        response = api.post(
            "/api/v1/suppressions/", {"address": f"{reason}@example.com", "reason": reason}
        )
        assert response.json()["reason"] == reason


def test_an_address_is_suppressed_once_whatever_its_case(api):
    api.post("/api/v1/suppressions/", {"address": "ann@example.com"})
    response = api.post("/api/v1/suppressions/", {"address": "ANN@example.com"})
    assert response.status_code == 400
    assert list(response.json()) == ["address"]
    assert Suppression.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "address"),
        ({"address": "not an address"}, "address"),
        ({"address": "a@example.com", "reason": "annoyed"}, "reason"),
        # The policy's and the erase's reasons are not for people to add.
        ({"address": "a@example.com", "reason": "soft_bounce"}, "reason"),
        ({"address": "a@example.com", "reason": "erased"}, "reason"),
        ({"address": "a@example.com", "note": "n" * 501}, "note"),
        ({"address": "a@example.com", "message": 1}, "message"),
        ({"address": "a@example.com", "expires": "never"}, "expires"),
    ],
)
def test_invalid_suppressions_are_refused_naming_the_field(api, body, field):
    response = api.post("/api/v1/suppressions/", body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Suppression.objects.count() == 0


def test_the_list_filters_by_address_and_reason(api):
    api.post("/api/v1/suppressions/", {"address": "ann@example.com"})
    api.post("/api/v1/suppressions/", {"address": "bob@example.com", "reason": "hard_bounce"})
    everything = api.get("/api/v1/suppressions/").json()["results"]
    assert [row["address"] for row in everything] == ["bob@example.com", "ann@example.com"]
    assert set(everything[0]) == SUPPRESSION_FIELDS
    by_address = api.get("/api/v1/suppressions/?address=ANN@example.com").json()["results"]
    assert [row["address"] for row in by_address] == ["ann@example.com"]
    by_reason = api.get("/api/v1/suppressions/?reason=hard_bounce").json()["results"]
    assert [row["address"] for row in by_reason] == ["bob@example.com"]
    assert api.get("/api/v1/suppressions/?reason=bored").status_code == 400


def test_a_suppression_caused_by_a_message_names_it(api):
    message = factories.message()
    Suppression.objects.create(address="x@example.com", reason="hard_bounce", message=message)
    row = api.get("/api/v1/suppressions/").json()["results"][0]
    assert row["message"] == message.id
    assert row["created_by"] is None


def test_removing_a_suppression_answers_204(api):
    created = api.post("/api/v1/suppressions/", {"address": "ann@example.com"}).json()
    response = api.delete(f"/api/v1/suppressions/{created['id']}/")
    assert response.status_code == 204
    assert not Suppression.objects.exists()
    assert api.delete(f"/api/v1/suppressions/{created['id']}/").status_code == 404
