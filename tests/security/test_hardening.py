"""Hardening: SECRET_KEY for every entry point that serves with DEBUG off,
the development key file readable by its owner only, no password reset
without email, security headers and cookie flags."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import NoReverseMatch, reverse

from config.env import development_secret_key

ROOT = Path(__file__).resolve().parents[2]


def _environment(**extra) -> dict[str, str]:
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "TIDINGS_COMMAND_LINE")
    }
    environment.update(extra)
    return environment


def test_runserver_with_debug_off_refuses_to_start_without_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "runserver", "--noreload", "127.0.0.1:0"],
        cwd=ROOT,
        env=_environment(DEBUG="false"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_a_celery_worker_with_debug_off_needs_secret_key_too():
    result = subprocess.run(
        [sys.executable, "-c", "import config.celery, django; django.setup()"],
        cwd=ROOT,
        env=_environment(DEBUG="false"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_development_key_file_is_created_readable_by_its_owner_only(tmp_path):
    key_file = tmp_path / "var" / "secret_key"
    key = development_secret_key(key_file)
    assert len(key) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert development_secret_key(key_file) == key  # kept, not remade


def test_password_reset_is_not_served_without_email(client, db):
    with pytest.raises(NoReverseMatch):
        reverse("password_reset")
    assert client.get("/accounts/password_reset/").status_code == 404
    assert client.get("/accounts/login/").status_code == 200


@pytest.mark.django_db
def test_pages_carry_the_security_headers(client, django_user_model):
    response = client.get("/accounts/login/")
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy


@pytest.mark.django_db
def test_the_session_and_csrf_cookies_are_httponly_and_samesite(client, django_user_model):
    django_user_model.objects.create_user("ann", password="pw-ann-12345")
    page = client.get("/accounts/login/")
    csrf = page.cookies["csrftoken"]
    assert csrf["samesite"] == "Lax"
    response = client.post("/accounts/login/", {"username": "ann", "password": "pw-ann-12345"})
    session = response.cookies["sessionid"]
    assert session["httponly"] is True
    assert session["samesite"] == "Lax"


def test_with_secure_ssl_the_cookies_are_secure_and_hsts_is_on():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
            "s.SECURE_HSTS_SECONDS > 0)",
        ],
        cwd=ROOT,
        env=_environment(
            SECRET_KEY="x", SECURE_SSL="true", DJANGO_SETTINGS_MODULE="config.settings"
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["True", "True", "True", "True"], result.stderr
