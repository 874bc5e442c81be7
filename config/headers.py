"""Content-Security-Policy on every answer except the API docs (Swagger UI
runs an inline script); the other security headers come from Django's own
SecurityMiddleware and XFrameOptionsMiddleware (config/settings.py)."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

EXEMPT_PREFIXES = ("/api/docs/",)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.TIDINGS_CONTENT_SECURITY_POLICY
        if policy and not request.path.startswith(EXEMPT_PREFIXES):
            response.headers.setdefault("Content-Security-Policy", policy)
        return response
