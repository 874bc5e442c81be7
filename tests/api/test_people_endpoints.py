import pytest

from messaging.models import Person

pytestmark = pytest.mark.django_db

PERSON_FIELDS = {
    "id",
    "external_id",
    "email",
    "phone",
    "push_token",
    "attributes",
    "unsubscribed_at",
    "deleted_at",
    "erased",
    "created_at",
    "updated_at",
}


def test_posting_a_new_external_id_creates_the_person(api):
    response = api.post(
        "/api/v1/people/",
        {
            "external_id": "cust-1",
            "email": "Ann@Example.com",
            "phone": "+15551230000",
            "push_token": "tok-1",
            "attributes": {"plan": "pro", "age": 41},
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == PERSON_FIELDS
    assert body["external_id"] == "cust-1"
    assert body["email"] == "Ann@Example.com"
    assert body["attributes"] == {"plan": "pro", "age": 41}
    assert body["unsubscribed_at"] is None and body["deleted_at"] is None
    assert Person.objects.get(external_id="cust-1").phone == "+15551230000"


def test_posting_an_existing_external_id_updates_only_the_given_fields(api):
    api.post(
        "/api/v1/people/",
        {"external_id": "cust-1", "email": "a@example.com", "attributes": {"a": 1, "b": 2}},
    )
    response = api.post(
        "/api/v1/people/",
        {"external_id": "cust-1", "phone": "+15550001111", "attributes": {"b": None, "c": 3}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["email"] == "a@example.com"
    assert body["phone"] == "+15550001111"
    assert body["attributes"] == {"a": 1, "c": 3}
    assert Person.objects.count() == 1


def test_a_person_reads_by_external_id_even_with_slashes_and_spaces(api):
    api.post("/api/v1/people/", {"external_id": "crm/42 b", "email": "a@example.com"})
    response = api.get("/api/v1/people/crm%2F42%20b/")
    assert response.status_code == 200
    assert response.json()["email"] == "a@example.com"
    assert api.post("/api/v1/people/crm/42%20b/unsubscribe/").status_code == 200
    assert Person.objects.get().unsubscribed_at is not None


def test_an_unknown_person_is_a_404(api):
    assert api.get("/api/v1/people/nobody/").status_code == 404
    assert api.patch("/api/v1/people/nobody/", {"email": "a@example.com"}).status_code == 404
    assert api.delete("/api/v1/people/nobody/").status_code == 404
    assert api.post("/api/v1/people/nobody/unsubscribe/", {}).status_code == 404
    assert api.get("/api/v1/people/nul%00byte/").status_code == 404


def test_patch_changes_the_given_fields(api):
    api.post("/api/v1/people/", {"external_id": "p", "email": "a@example.com"})
    response = api.patch(
        "/api/v1/people/p/", {"email": "", "push_token": "t", "attributes": {"k": "v"}}
    )
    assert response.status_code == 200
    person = Person.objects.get(external_id="p")
    assert (person.email, person.push_token, person.attributes) == ("", "t", {"k": "v"})


def test_patch_cannot_change_the_external_id(api):
    api.post("/api/v1/people/", {"external_id": "p"})
    response = api.patch("/api/v1/people/p/", {"external_id": "q"})
    assert response.status_code == 400
    assert response.json() == {"external_id": ["This field is read-only."]}


def test_delete_marks_the_person_deleted_and_keeps_the_row(api):
    api.post("/api/v1/people/", {"external_id": "p"})
    response = api.delete("/api/v1/people/p/")
    assert response.status_code == 204
    assert Person.objects.get(external_id="p").deleted_at is not None
    assert api.get("/api/v1/people/p/").json()["deleted_at"] is not None


def test_a_deleted_person_stays_deleted_when_posted_again(api):
    api.post("/api/v1/people/", {"external_id": "p"})
    api.delete("/api/v1/people/p/")
    response = api.post("/api/v1/people/", {"external_id": "p", "email": "p@example.com"})
    assert response.status_code == 200
    assert response.json()["deleted_at"] is not None


def test_unsubscribe_marks_the_person_unsubscribed(api):
    api.post("/api/v1/people/", {"external_id": "p"})
    response = api.post("/api/v1/people/p/unsubscribe/")
    assert response.status_code == 200
    assert response.json()["unsubscribed_at"] is not None
    first = Person.objects.get(external_id="p").unsubscribed_at
    api.post("/api/v1/people/p/unsubscribe/", {})
    assert Person.objects.get(external_id="p").unsubscribed_at == first


def test_people_list_newest_first_with_a_cursor(api):
    for n in range(3):
        api.post("/api/v1/people/", {"external_id": f"p{n}"})
    first = api.get("/api/v1/people/?limit=2").json()
    assert [p["external_id"] for p in first["results"]] == ["p2", "p1"]
    second = api.get(first["next"]).json()
    assert [p["external_id"] for p in second["results"]] == ["p0"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({}, "external_id", "This field is required."),
        ({"external_id": ""}, "external_id", "This field may not be blank."),
        ({"external_id": "x" * 201}, "external_id", "no more than 200 characters"),
        ({"external_id": "p", "email": "not-an-email"}, "email", "valid email"),
        ({"external_id": "p", "phone": "call me"}, "phone", "phone number"),
        ({"external_id": "p", "attributes": [1, 2]}, "attributes", "dictionary"),
        ({"external_id": "p", "attributes": {"k": "a\x00b"}}, "attributes", "NUL"),
        ({"external_id": "p", "push_token": "t" * 513}, "push_token", "no more than 512"),
        ({"external_id": "p", "nickname": "x"}, "nickname", "Unknown field."),
        ({"external_id": "p", "deleted_at": None}, "deleted_at", "read-only"),
    ],
)
def test_invalid_people_are_refused_naming_the_field(api, body, field, reason):
    response = api.post("/api/v1/people/", body)
    assert response.status_code == 400
    errors = response.json()
    assert list(errors) == [field]
    assert reason in " ".join(errors[field])
    assert Person.objects.count() == 0


def test_a_body_that_is_not_an_object_is_refused(api):
    response = api.post("/api/v1/people/", ["p"])
    assert response.status_code == 400
    assert "non_field_errors" in response.json()


def test_attributes_with_a_lone_surrogate_are_refused(api):
    response = api.post(
        "/api/v1/people/",
        b'{"external_id": "p", "attributes": {"k": "\\ud800"}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert "surrogate" in response.json()["attributes"][0]
