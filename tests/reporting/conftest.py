import pytest

from messaging.reporting import outbox
from tests.reporting.receiver import start_receiver


@pytest.fixture(autouse=True)
def _reporting_settings(settings):
    # Local receivers (loopback) are allowed; retries come fast; a stalled
    # receiver times out in a second.
    settings.TIDINGS_OUTBOUND_ALLOW_PRIVATE = True
    settings.TIDINGS_REPORTING_RETRY_BASE_SECONDS = 0.05
    settings.TIDINGS_REPORTING_TIMEOUT_SECONDS = 1
    settings.TIDINGS_REPORTING_TASK_SECONDS = 5
    settings.TIDINGS_PROVIDER_BY_CHANNEL = dict.fromkeys(
        ("email", "sms", "push", "slack", "webhook", "airship"), "capture"
    )
    outbox.forget_enabled()
    yield
    outbox.forget_enabled()


@pytest.fixture
def receiver():
    server = start_receiver()
    yield server
    server.server.shutdown()
    server.server.server_close()
