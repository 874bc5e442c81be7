import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "webhooks"
RECEIVED_AT = datetime(2024, 6, 2, 12, 0, tzinfo=UTC)


def fixture_bytes(provider: str, name: str) -> bytes:
    matches = sorted((FIXTURES / provider).glob(f"{name}.*"))
    assert len(matches) == 1, f"no single fixture {provider}/{name}"
    return matches[0].read_bytes()


def fixture_json(provider: str, name: str) -> Any:
    return json.loads(fixture_bytes(provider, name))


def fixture_names(provider: str) -> set[str]:
    return {path.stem for path in (FIXTURES / provider).iterdir() if path.is_file()}


def flip_one_byte(body: bytes, index: int | None = None) -> bytes:
    # Flip the low bit of a letter: inside a JSON string that keeps the body
    # well-formed, so the signature check (not the JSON parser) must catch it.
    position = len(body) // 2 if index is None else index
    while not chr(body[position]).isalpha():
        position += 1
    flipped = bytes([body[position] ^ 0x01])
    return body[:position] + flipped + body[position + 1 :]
