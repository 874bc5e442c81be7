"""Builders that go through the API itself (used by several API tests)."""

HTML_BODY = (
    '<html><body><p>Hello {{ first_name|friend }}, see <a href="https://example.com/spring">'
    'the sale</a> or <a href="https://example.com/faq">the FAQ</a>.</p></body></html>'
)


def create_campaign(api, **fields) -> dict:
    body = {"name": "Spring sale", "conversion_event": "purchase", **fields}
    response = api.post("/api/v1/campaigns/", body)
    assert response.status_code == 201, response.json()
    return response.json()


def create_action(api, campaign_id: int, **fields) -> dict:
    body = {"name": "Email", "channel": "email", "subject": "Spring", "body": HTML_BODY, **fields}
    response = api.post(f"/api/v1/campaigns/{campaign_id}/actions/", body)
    assert response.status_code == 201, response.json()
    return response.json()


def create_people(api, *external_ids: str, **fields) -> None:
    for external_id in external_ids:
        body = {"external_id": external_id, "email": f"{external_id}@example.com", **fields}
        assert api.post("/api/v1/people/", body).status_code in (200, 201)


def send(api, action_id: int, *external_ids: str) -> list[dict]:
    response = api.post("/api/v1/send/", {"action": action_id, "people": list(external_ids)})
    assert response.status_code == 202, response.json()
    return response.json()["messages"]
