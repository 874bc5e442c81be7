"""Reporting webhooks in the admin (registered by messaging.admin): the
endpoints (the deliverability role manages them: the same permission as the
API), and their delivery attempts, read-only, with a redeliver action. An
endpoint disabled after failing for days says why in its note."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html

from campaigns.vocabulary import Status
from config import access
from config.outbound import OutboundRefused
from messaging.reporting.delivery import delivery_redeliver
from messaging.reporting.guard import reporting_url_check
from messaging.reporting.models import ReportingDelivery, ReportingWebhook
from messaging.reporting.services import endpoint_disabled
from messaging.reporting.signing import secret_generate


def _may_manage(request) -> bool:
    return request.user.has_perm(access.MANAGE_REPORTING_WEBHOOKS)


class _ManagedByDeliverability:
    """Seen only by who may manage reporting webhooks (the API's permission)."""

    def has_module_permission(self, request) -> bool:
        return _may_manage(request)

    def has_view_permission(self, request, obj=None) -> bool:
        return _may_manage(request)


class ReportingWebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    events = forms.MultipleChoiceField(choices=Status.choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = ReportingWebhook
        fields = ("url", "events", "occurrence", "include_content", "enabled")

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        try:
            reporting_url_check(url)
        except OutboundRefused as exc:
            raise forms.ValidationError(f"This URL is refused: {exc}.") from None
        return url


class ReportingWebhookAdmin(_ManagedByDeliverability, admin.ModelAdmin):
    form = ReportingWebhookForm
    list_display = (
        "id",
        "url",
        "occurrence",
        "enabled",
        "failing_since",
        "disabled_note",
        "deliveries_link",
    )
    list_filter = ("enabled", "occurrence")
    search_fields = ("url",)
    readonly_fields = (
        "secret_shown",
        "created_at",
        "updated_at",
        "failing_since",
        "disabled_note",
        "deliveries_link",
    )

    @admin.display(description="Secret")
    def secret_shown(self, obj: ReportingWebhook) -> str:
        # Shown only in the API's create answer (CONTRACT.md): the page says
        # there is one and no part of it.
        return "whsec_… (hidden)" if obj.secret else "-"

    @admin.display(description="Delivery attempts")
    def deliveries_link(self, obj: ReportingWebhook) -> str:
        if obj.pk is None:
            return "-"
        url = (
            reverse("admin:messaging_reportingdelivery_changelist")
            + f"?webhook__id__exact={obj.pk}"
        )
        return format_html('<a href="{}">attempts</a>', url)

    def save_model(self, request, obj: ReportingWebhook, form, change) -> None:
        if not obj.secret:
            obj.secret = secret_generate()
        switched = change and "enabled" in form.changed_data
        if switched and obj.enabled:
            obj.failing_since = None
            obj.disabled_note = ""
        super().save_model(request, obj, form, change)
        if switched and not obj.enabled:
            endpoint_disabled(obj)  # in the admin's transaction
        if not change:
            # The one time the secret is shown, as the API's create answer is.
            self.message_user(
                request,
                f"Its signing secret, shown only now: {obj.secret}",
                messages.WARNING,
            )

    def has_add_permission(self, request) -> bool:
        return _may_manage(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return _may_manage(request)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _may_manage(request)


class ReportingDeliveryAdmin(_ManagedByDeliverability, admin.ModelAdmin):
    list_display = (
        "id",
        "webhook",
        "webhook_msg_id",
        "event",
        "message_link",
        "attempt",
        "status_code",
        "error",
        "at",
        "next_retry_at",
        "duration_ms",
    )
    list_filter = ("webhook", ("at", admin.DateFieldListFilter))
    list_select_related = ("notification", "webhook")
    show_full_result_count = False
    actions = ("redeliver_selected",)
    fields = list_display
    readonly_fields = list_display

    @admin.display(description="webhook-id")
    def webhook_msg_id(self, obj: ReportingDelivery) -> str:
        return obj.notification.webhook_msg_id

    @admin.display(description="Event")
    def event(self, obj: ReportingDelivery) -> str:
        return obj.notification.event_name

    @admin.display(description="Message")
    def message_link(self, obj: ReportingDelivery) -> str:
        message_id = obj.notification.message_id
        return format_html('<a href="/messages/{}/">{}</a>', message_id, message_id)

    @admin.action(description="Redeliver the selected attempts' notifications")
    def redeliver_selected(self, request, queryset) -> None:
        if not _may_manage(request):
            self.message_user(request, "You may not redeliver notifications.", messages.ERROR)
            return
        count = 0
        with transaction.atomic():
            for delivery in queryset:
                delivery_redeliver(delivery=delivery)
                count += 1
        self.message_user(request, f"{count} notification(s) will be sent again.", messages.SUCCESS)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
