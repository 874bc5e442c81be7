"""JSON from outside, read with limits: a depth limit (deep nesting made
Python's parser raise RecursionError, a 500) and, for the API, a size limit.

``loads`` is what the webhook parsers and ``LimitedJSONParser`` (the API's
parser class) use. The depth is measured before parsing, without recursion
and in C-speed passes (strings removed by one regex, then a running sum over
the brackets), so a large, flat, legitimate batch costs little."""

from __future__ import annotations

import json
import re
from itertools import accumulate
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.parsers import JSONParser

MAX_DEPTH = 32  # deeper than any provider payload or API body we take

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONTooDeep(ValueError):
    pass


def nesting_depth(text: str) -> int:
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0)


def loads(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads that raises ValueError (never RecursionError) for input
    nested deeper than ``max_depth`` or that is not UTF-8 JSON."""
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    if nesting_depth(text) > max_depth:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # not reachable within MAX_DEPTH; belt and braces
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None


class PayloadTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


class LimitedJSONParser(JSONParser):
    """The API's parser: a body over TIDINGS_API_MAX_BYTES is a 413, one
    nested deeper than MAX_DEPTH or not JSON a 400."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.TIDINGS_API_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise PayloadTooLarge(f"Request body over {limit} bytes.")
        try:
            return loads(data)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
