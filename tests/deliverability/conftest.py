import pytest

from tests.webhooks.kits import configure


@pytest.fixture
def kits(settings, monkeypatch):
    """Every provider configured with a generated secret; no network."""
    return configure(settings, monkeypatch)
