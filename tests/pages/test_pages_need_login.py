import pytest

from campaigns.vocabulary import Channel
from config.access import user_role_set
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def message():
    return factories.message(Channel.EMAIL)


def page_urls(message):
    return [
        "/",
        f"/campaigns/{message.campaign_id}/",
        "/deliveries/",
        "/deliveries/?export=csv",
        f"/messages/{message.id}/",
    ]


def test_every_page_sends_an_anonymous_visitor_to_the_login_page(client, message):
    for url in page_urls(message):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_the_send_retry_and_discard_buttons_need_a_login_too(client, message):
    for action in ("send", "retry", "discard"):
        response = client.post(f"/messages/{message.id}/{action}/")
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_the_login_page_logs_a_user_in_and_returns_to_the_page_asked_for(
    client, django_user_model, message
):
    ann = django_user_model.objects.create_user("ann", password="pw-ann-12345")
    user_role_set(user=ann, role="viewer")
    response = client.post(
        "/accounts/login/",
        {"username": "ann", "password": "pw-ann-12345", "next": "/deliveries/"},
    )
    assert response.status_code == 302 and response["Location"] == "/deliveries/"
    assert client.get("/deliveries/").status_code == 200


def test_a_viewer_who_is_not_staff_reads_the_pages_but_not_the_admin(
    client, django_user_model, message
):
    user = django_user_model.objects.create_user("viewer", password="pw-viewer-1")
    user_role_set(user=user, role="viewer")
    client.force_login(user)
    for url in page_urls(message):
        assert client.get(url).status_code == 200, url
    for url in ("/admin/", "/admin/messaging/suppression/", "/admin/messaging/message/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/admin/login/"), url
