"""With DEBUG off the app serves its own static files after collectstatic
(CONTRACT.md: plain HTTP on 127.0.0.1 works without another web server)."""

import pytest
from django.core.management import call_command
from django.test import Client


@pytest.mark.django_db
def test_static_files_and_the_api_docs_assets_are_served_with_debug_off(settings, tmp_path):
    settings.DEBUG = False
    settings.STATIC_ROOT = tmp_path
    call_command("collectstatic", "--noinput", verbosity=0)
    client = Client()  # a new handler: WhiteNoise indexes STATIC_ROOT now
    swagger = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert swagger.status_code == 200
    admin_css = client.get("/static/admin/css/base.css")
    assert admin_css.status_code == 200


@pytest.mark.django_db
def test_the_api_docs_load_their_assets_from_this_server_not_a_cdn(django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_user("docs", password="x"))
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "/static/drf_spectacular_sidecar/" in html
    assert "cdn" not in html.lower()
