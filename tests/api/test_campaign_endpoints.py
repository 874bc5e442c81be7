import pytest

from campaigns.models import Action, Campaign, Link

pytestmark = pytest.mark.django_db

CAMPAIGN_FIELDS = {
    "id",
    "name",
    "conversion_event",
    "conversion_window_hours",
    # Issue 11 (CONTRACT.md "Conversions"): the credit rule and window, and
    # the state of re-attribution after an edit.
    "attribution",
    "attribution_state",
    "attribution_progress",
    "created_at",
}
ACTION_FIELDS = {
    "id",
    "campaign",
    "name",
    "channel",
    "subject",
    "body",
    "target",
    "send_as_draft",
    "track_opens",
    "track_links",
    "created_at",
    "links",
}


@pytest.fixture
def campaign(api):
    return api.post("/api/v1/campaigns/", {"name": "Spring", "conversion_event": "purchase"}).json()


def test_creating_a_campaign_answers_201_with_the_default_window(api):
    response = api.post("/api/v1/campaigns/", {"name": "Spring", "conversion_event": "purchase"})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == CAMPAIGN_FIELDS | {"actions"}
    assert body["conversion_window_hours"] == 168
    assert body["attribution"] == {"rule": "last_reached", "window_hours": 168}
    assert body["attribution_state"] == "current"
    assert body["actions"] == []
    assert Campaign.objects.get().conversion_event == "purchase"


def test_a_campaign_needs_only_a_name(api):
    response = api.post("/api/v1/campaigns/", {"name": "No goal"})
    assert response.status_code == 201
    assert response.json()["conversion_event"] == ""


def test_the_window_may_be_up_to_2160_hours(api):
    response = api.post("/api/v1/campaigns/", {"name": "c", "conversion_window_hours": 2160})
    assert response.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "c", "conversion_window_hours": 2161}, "conversion_window_hours"),
        ({"name": "c", "conversion_window_hours": 0}, "conversion_window_hours"),
        ({"name": "c", "conversion_window_hours": "week"}, "conversion_window_hours"),
        ({"name": "c", "conversion_event": "x" * 201}, "conversion_event"),
        ({"name": "c", "goal": "purchase"}, "goal"),
        ({"name": "c", "id": 5}, "id"),
    ],
)
def test_invalid_campaigns_are_refused_naming_the_field(api, body, field):
    response = api.post("/api/v1/campaigns/", body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Campaign.objects.count() == 0


def test_campaigns_list_newest_first_with_a_cursor(api):
    for name in ("a", "b", "c"):
        api.post("/api/v1/campaigns/", {"name": name})
    page = api.get("/api/v1/campaigns/?limit=2").json()
    assert set(page) == {"next", "previous", "results"}
    assert [c["name"] for c in page["results"]] == ["c", "b"]
    assert set(page["results"][0]) == CAMPAIGN_FIELDS
    rest = api.get(page["next"]).json()
    assert [c["name"] for c in rest["results"]] == ["a"]


def test_a_malformed_cursor_is_a_400(api):
    response = api.get("/api/v1/campaigns/?cursor=garbage")
    assert response.status_code == 400
    assert list(response.json()) == ["cursor"]


def test_an_email_action_tracks_each_link_of_its_html_body(api, campaign):
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/actions/",
        {
            "name": "Welcome",
            "channel": "email",
            "subject": "Hi",
            "body": '<a href="https://example.com/a">A</a> <a href="https://example.com/b">B</a>'
            ' <a href="https://example.com/a">A again</a>',
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == ACTION_FIELDS
    assert body["campaign"] == campaign["id"]
    assert (body["send_as_draft"], body["track_opens"], body["track_links"]) == (
        False,
        True,
        True,
    )
    assert [(link["url"], link["position"]) for link in body["links"]] == [
        ("https://example.com/a", 0),
        ("https://example.com/b", 1),
    ]
    assert set(body["links"][0]) == {"id", "url", "position"}
    assert Link.objects.filter(action_id=body["id"]).count() == 2


def test_an_sms_action_tracks_bare_urls(api, campaign):
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/actions/",
        {"name": "Text", "channel": "sms", "body": "Sale! https://example.com/s?x=1 ends soon"},
    )
    assert [link["url"] for link in response.json()["links"]] == ["https://example.com/s?x=1"]


def test_no_links_are_tracked_when_link_tracking_is_off_or_the_channel_has_no_clicks(api, campaign):
    url = f"/api/v1/campaigns/{campaign['id']}/actions/"
    off = api.post(
        url,
        {"name": "e", "channel": "email", "body": "https://example.com/x", "track_links": False},
    )
    airship = api.post(url, {"name": "a", "channel": "airship", "body": "https://example.com/x"})
    assert off.status_code == airship.status_code == 201
    assert off.json()["links"] == [] and airship.json()["links"] == []


def test_track_switches_are_accepted_on_every_channel(api, campaign):
    response = api.post(
        f"/api/v1/campaigns/{campaign['id']}/actions/",
        {
            "name": "Hook",
            "channel": "webhook",
            "body": '{"hello": "world"}',
            "target": "https://hooks.example.com/in",
            "track_opens": True,
            "send_as_draft": True,
        },
    )
    assert response.status_code == 201
    assert response.json()["target"] == "https://hooks.example.com/in"
    assert response.json()["send_as_draft"] is True


def test_a_campaign_reads_with_its_actions_and_links(api, campaign):
    url = f"/api/v1/campaigns/{campaign['id']}/actions/"
    api.post(url, {"name": "one", "channel": "email", "body": "https://example.com/1"})
    api.post(url, {"name": "two", "channel": "slack", "body": "hi", "target": "#general"})
    response = api.get(f"/api/v1/campaigns/{campaign['id']}/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == CAMPAIGN_FIELDS | {"actions"}
    assert [a["name"] for a in body["actions"]] == ["one", "two"]
    assert body["actions"][0]["links"][0]["url"] == "https://example.com/1"


def test_an_unknown_campaign_is_a_404(api):
    assert api.get("/api/v1/campaigns/999999/").status_code == 404
    response = api.post(
        "/api/v1/campaigns/999999/actions/", {"name": "a", "channel": "email", "body": "b"}
    )
    assert response.status_code == 404
    assert api.get("/api/v1/campaigns/99999999999999999999999/").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"channel": "email", "body": "b"}, "name"),
        ({"name": "a", "body": "b"}, "channel"),
        ({"name": "a", "channel": "fax", "body": "b"}, "channel"),
        ({"name": "a", "channel": "email"}, "body"),
        ({"name": "a", "channel": "email", "body": ""}, "body"),
        ({"name": "a", "channel": "email", "body": "b", "subject": "s" * 501}, "subject"),
        ({"name": "a", "channel": "email", "body": "b", "track_links": "maybe"}, "track_links"),
        ({"name": "a", "channel": "webhook", "body": "b", "target": "not a url"}, "target"),
        ({"name": "a", "channel": "email", "body": "b", "links": []}, "links"),
        ({"name": "a", "channel": "email", "body": "b", "template": "x"}, "template"),
    ],
)
def test_invalid_actions_are_refused_naming_the_field(api, campaign, body, field):
    response = api.post(f"/api/v1/campaigns/{campaign['id']}/actions/", body)
    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert Action.objects.count() == 0
