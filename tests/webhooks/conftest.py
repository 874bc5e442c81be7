import pytest

from messaging.webhooks import inbox

from .kits import configure


@pytest.fixture
def kits(settings, monkeypatch):
    """Every provider configured with a generated secret; no network."""
    return configure(settings, monkeypatch)


class Confirmations(list):
    """Stands in for Amazon's side of an SNS subscription confirmation (the
    one HTTP call the inbox makes); records the URLs it was asked for."""

    def __init__(self):
        super().__init__()
        self.in_transaction: list[bool] = []
        self.fail = False

    def __call__(self, url, timeout=None):
        from django.db import connection

        self.append(url)
        self.in_transaction.append(connection.in_atomic_block)
        if self.fail:
            raise ConnectionError("sns.us-east-1.amazonaws.com unreachable")
        return _Ok()


class _Ok:
    status_code = 200

    def raise_for_status(self):
        return None


@pytest.fixture
def sns_confirmations(monkeypatch):
    recorder = Confirmations()
    monkeypatch.setattr(inbox, "http_get", recorder)
    return recorder
