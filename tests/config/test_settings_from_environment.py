"""Bad settings stop start-up with a message naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(code: str = "import django; django.setup()", *, unset: tuple[str, ...] = (), **env):
    drop = ("DATABASE_URL", "DEBUG", *unset)
    environment = {k: v for k, v in os.environ.items() if k not in drop}
    environment.update({"SECRET_KEY": "x", "DJANGO_SETTINGS_MODULE": "config.settings"}, **env)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "mysql//nonsense"),
        ("DATABASE_URL", "redis://127.0.0.1:6379/0"),
        ("REDIS_URL", "http://not-redis"),
        ("TIDINGS_PROVIDERS", "carrier-pigeon"),
        ("TIDINGS_PROVIDER_SMS", "real"),
        ("TIDINGS_PUBLIC_URL", "not a url"),
        ("SECURE_SSL", "sometimes"),
        # A hard limit at or below the soft one (every enqueue would raise
        # after its commit), and a provider timeout that is not below it.
        ("CELERY_TASK_TIME_LIMIT", "240"),
        ("TIDINGS_PROVIDER_TIMEOUT_SECONDS", "240"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    result = start(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert name in result.stderr.splitlines()[-1]


def test_secret_key_is_required_when_debug_is_off():
    result = start(SECRET_KEY="", DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr.splitlines()[-1]


def test_good_values_start():
    result = start(
        DEBUG="true",
        TIDINGS_PROVIDERS="capture",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/tidings",
    )
    assert result.returncode == 0, result.stderr


def test_provider_secrets_are_lists_for_rotation():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(settings.TWILIO_AUTH_TOKEN)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "SECRET_KEY": "x",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "TWILIO_AUTH_TOKEN": "old, new",
        },
    )
    assert result.stdout.strip() == "['old', 'new']"


def test_management_commands_run_without_a_secret_key_but_the_served_app_does_not():
    environment = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SECRET_KEY", "DEBUG", "DJANGO_SETTINGS_MODULE", "DATABASE_URL")
    }

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *argv],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )

    command = run("manage.py", "check")
    assert command.returncode == 0, command.stderr
    # The WSGI app, and the demo's server (with DEBUG on, as make run starts
    # it, it may use the development key).
    for served in (run("-c", "import config.wsgi"), run("manage.py", "serve_demo", "127.0.0.1:0")):
        assert served.returncode != 0
        assert "SECRET_KEY must be set" in served.stderr


def _wsgi_start(**env):
    secrets = (
        "SENDGRID_WEBHOOK_VERIFICATION_KEY",
        "TWILIO_AUTH_TOKEN",
        "MAILGUN_WEBHOOK_SIGNING_KEY",
        "POSTMARK_WEBHOOK_AUTH",
        "SES_SNS_TOPIC_ARNS",
    )
    return start("import config.wsgi", unset=secrets, **env)


def test_a_server_warns_at_start_up_about_each_webhook_without_a_secret():
    # gunicorn runs no system checks: the WSGI module says it (CONTRACT.md).
    started = _wsgi_start(DEBUG="false", TWILIO_AUTH_TOKEN="t0ken")
    assert started.returncode == 0, started.stderr
    assert "SENDGRID_WEBHOOK_VERIFICATION_KEY is not set" in started.stderr
    assert "SES_SNS_TOPIC_ARNS is not set" in started.stderr
    assert "TWILIO_AUTH_TOKEN" not in started.stderr  # this one is set
    quiet = _wsgi_start(DEBUG="true")  # the demo's simulated providers need none
    assert quiet.returncode == 0, quiet.stderr
    assert "is not set" not in quiet.stderr
