"""The webhook inbox in the admin (registered by messaging.admin): every
stored provider request, filterable by provider, state and time, read-only,
with two actions: replay (apply again; idempotent) and discard (a person
decides a request will not apply; retention then removes it)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html

from messaging.models import WebhookRequest, WebhookStatus
from messaging.webhooks.inbox import webhook_request_apply
from messaging.webhooks.retention import webhook_requests_discard

ERROR_PREVIEW = 120


class WebhookRequestAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "provider",
        "status",
        "received_at",
        "event_count",
        "attempts",
        "applied_at",
        "error_preview",
    )
    list_filter = ("provider", "status", ("received_at", admin.DateFieldListFilter))
    date_hierarchy = "received_at"
    search_fields = ("dedup_key", "error")
    actions = ("replay_selected", "discard_selected")
    show_full_result_count = False  # the inbox can be large: no COUNT(*) per page
    fields = (
        "provider",
        "status",
        "received_at",
        "applied_at",
        "event_count",
        "attempts",
        "retry_after",
        "dedup_key",
        "url",
        "headers",
        "waiting_for",
        "error",
        "body_text",
    )
    readonly_fields = fields

    @admin.display(description="Error")
    def error_preview(self, obj: WebhookRequest) -> str:
        first = (obj.error or "").strip().splitlines()[:1]
        text = first[0] if first else ""
        return text if len(text) <= ERROR_PREVIEW else text[: ERROR_PREVIEW - 1] + "…"

    @admin.display(description="Body")
    def body_text(self, obj: WebhookRequest) -> str:
        raw = bytes(obj.body or b"")
        return format_html(
            '<pre style="white-space: pre-wrap; max-width: 60em">{}</pre>',
            raw.decode("utf-8", errors="replace"),
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _may_act(self, request) -> bool:
        return request.user.has_perm("messaging.change_webhookrequest")

    @admin.action(description="Replay the selected requests (idempotent)")
    def replay_selected(self, request, queryset):
        if not self._may_act(request):
            self.message_user(request, "You may not replay webhook requests.", messages.ERROR)
            return
        outcomes: dict[str, int] = {}
        for row in queryset.exclude(status=WebhookStatus.DISCARDED).order_by("id"):
            outcome = webhook_request_apply(request=row)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
        self.message_user(request, f"Replayed: {summary or 'nothing'}.", messages.SUCCESS)

    @admin.action(description="Discard the selected requests (they will not be applied)")
    def discard_selected(self, request, queryset):
        if not self._may_act(request):
            self.message_user(request, "You may not discard webhook requests.", messages.ERROR)
            return
        count = webhook_requests_discard(
            request_ids=queryset.values_list("id", flat=True),
            reason=f"by {request.user.get_username()}",
        )
        self.message_user(
            request,
            f"Discarded {count} request(s); applied ones were left alone.",
            messages.SUCCESS,
        )
