"""`make run` on a fresh clone: after installing, its output fits on one
screen and ends with the login and the URL (the demo's unset webhook secrets
said once, in one line).

The test runs the commands of the Makefile's `run` recipe, as `make -n`
prints them, in subprocesses against a new SQLite file, and stops the server
once it has printed its URL."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.integration

BASE_DIR = Path(settings.BASE_DIR)
SECRETS = (
    "SENDGRID_WEBHOOK_VERIFICATION_KEY",
    "TWILIO_AUTH_TOKEN",
    "MAILGUN_WEBHOOK_SIGNING_KEY",
    "POSTMARK_WEBHOOK_AUTH",
    "SES_SNS_TOPIC_ARNS",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def outside_make() -> dict[str, str]:
    """The environment as a person's shell has it: CI runs this suite inside
    `make test`, whose MAKEFLAGS / MAKELEVEL a nested make would inherit."""
    return {
        key: value
        for key, value in os.environ.items()
        if key not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES")
    }


def run_recipe(addr: str) -> list[str]:
    """The shell lines of `make run` (without its install step)."""
    printed = subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", "install", "-o", ".venv/.installed",
         "run", f"ADDR={addr}", f"PY={shlex.quote(sys.executable)}"],
        cwd=BASE_DIR, capture_output=True, text=True, check=True, env=outside_make(),
    ).stdout  # fmt: skip
    return [line for line in printed.splitlines() if line.strip()]


def fresh_clone_env(database: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in outside_make().items()
        if key not in SECRETS
        and key not in ("DJANGO_SETTINGS_MODULE", "REDIS_URL", "DEBUG", "SECRET_KEY")
        and not key.startswith(("TIDINGS_", "PYTEST_"))
    }
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env["PYTHONUNBUFFERED"] = "1"  # the server's lines as they come, through a pipe
    return env


def test_make_run_fits_on_one_screen_and_ends_with_the_login_and_url(tmp_path):
    port = free_port()
    *setup, serve = run_recipe(f"127.0.0.1:{port}")
    assert "migrate" in setup[0] and "bootstrap_demo" in setup[1]
    env = fresh_clone_env(tmp_path / "fresh.sqlite3")

    output: list[str] = []
    for line in setup:
        done = subprocess.run(
            line, shell=True, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=600
        )
        assert done.returncode == 0, done.stdout + done.stderr
        output += (done.stdout + done.stderr).splitlines()

    server = subprocess.Popen(
        serve, shell=True, cwd=BASE_DIR, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    served: list[str] = []
    try:
        # Read until the URL line; a watchdog stops a server that never
        # prints it, so the test fails instead of hanging.
        watchdog = threading.Timer(120, os.killpg, (server.pid, signal.SIGTERM))
        watchdog.start()
        for line in server.stdout:
            served.append(line.rstrip("\n"))
            if url in line:
                break
        watchdog.cancel()
        assert served and url in served[-1], "\n".join(output + served)
        with urllib.request.urlopen(url + "accounts/login/") as response:
            assert response.status == 200 and b"Log in" in response.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        server.stdout.close()

    everything = output + served
    assert len(everything) <= 25, "\n".join(everything)
    assert served[-2] == "Log in as admin / tidings-demo"
    assert served[-1] == f"Tidings is running at {url} (CONTROL-C stops it)"
    about_secrets = [line for line in everything if re.search(r"secret|WEBHOOK|HINT", line)]
    assert about_secrets == [
        "Demo: no webhook secrets set (sendgrid, twilio, mailgun, postmark, ses): expected here."
    ]
    assert not [line for line in everything if "System check" in line or "WARNING" in line]
    assert any(line.startswith("Demo loaded: 1000 people") for line in everything)


def test_with_debug_off_the_checks_keep_the_full_warnings(settings):
    from messaging.webhooks.views import check_webhook_secrets

    for name in SECRETS:
        setattr(settings, name, [])
    settings.DEBUG = False
    assert len(check_webhook_secrets()) == 5
    settings.DEBUG = True
    assert check_webhook_secrets() == []


def test_the_demo_line_names_only_the_providers_without_a_secret(settings):
    from messaging.management.commands.serve_demo import webhook_secrets_line

    for name in SECRETS:
        setattr(settings, name, ["x"])
    assert webhook_secrets_line() == ""
    settings.TWILIO_AUTH_TOKEN = []
    assert webhook_secrets_line() == "Demo: no webhook secrets set (twilio): expected here."
