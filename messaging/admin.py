"""The admin: people, messages (read-only; drafts sent and failures retried
in bulk through the pipeline's services), and the suppression list with CSV
import and export. Every change goes through the same services as the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.validators import validate_email
from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from campaigns.vocabulary import Status
from config import access
from messaging import sending
from messaging.audience import admin as audience_admin
from messaging.audience.audit import AuditSource
from messaging.audience.suppression import (
    AlreadySuppressed,
    active,
    normalise_address,
    person_delete,
    person_resubscribe,
    person_unsubscribe,
    reason_refusal,
    suppression_add,
    suppression_remove,
    suppressions_expire_due,
)
from messaging.audience.suppression_csv import (
    ImportRefused,
    suppressions_export_lines,
    suppressions_import,
)
from messaging.models import Message, MessageEvent, Person, Suppression, WebhookRequest
from messaging.reporting.admin import ReportingDeliveryAdmin, ReportingWebhookAdmin
from messaging.reporting.models import ReportingDelivery, ReportingWebhook
from messaging.webhooks.admin import WebhookRequestAdmin

# --- People ---------------------------------------------------------------------


class _SetFilter(admin.SimpleListFilter):
    """Yes / no on whether a timestamp marker is set."""

    field = ""

    def lookups(self, request, model_admin):
        return (("yes", "Yes"), ("no", "No"))

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(**{f"{self.field}__isnull": self.value() == "no"})
        return queryset


class UnsubscribedFilter(_SetFilter):
    title = "unsubscribed"
    parameter_name = "unsubscribed"
    field = "unsubscribed_at"


class DeletedFilter(_SetFilter):
    title = "deleted"
    parameter_name = "deleted"
    field = "deleted_at"


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = (
        "external_id",
        "email",
        "phone",
        "unsubscribed_at",
        "deleted_at",
        "erased_at",
        "created_at",
    )
    list_filter = (UnsubscribedFilter, DeletedFilter)
    search_fields = ("external_id", "email", "phone")
    readonly_fields = (
        "unsubscribed_at",
        "deleted_at",
        "erased_at",
        "created_at",
        "updated_at",
        "subscription",
        "suppressions",
        "recent_messages",
        "audit_trail",
    )
    fieldsets = (
        (None, {"fields": ("external_id", "email", "phone", "push_token", "attributes")}),
        (
            "Why didn't they get our email?",
            {"fields": ("subscription", "suppressions", "recent_messages", "audit_trail")},
        ),
        ("Markers", {"fields": ("unsubscribed_at", "deleted_at", "erased_at", "created_at")}),
    )
    actions = ("unsubscribe_people", "resubscribe_people", "delete_people")
    show_full_result_count = False
    change_form_template = "admin/messaging/person/change_form.html"

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return (
                (None, {"fields": ("external_id", "email", "phone", "push_token", "attributes")}),
            )
        return super().get_fieldsets(request, obj)

    def has_erase_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.ERASE_PERSON)

    def get_urls(self):
        own = [
            path(
                "<path:object_id>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="messaging_person_erase",
            )
        ]
        return own + super().get_urls()

    def erase_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return audience_admin.erase_view(self, request, object_id)

    def render_change_form(self, request, context, *args, **kwargs):
        context["has_erase_permission"] = self.has_erase_permission(request)
        return super().render_change_form(request, context, *args, **kwargs)

    @admin.display(description="Subscription")
    def subscription(self, obj: Person) -> str:
        return audience_admin.person_subscription(obj)

    @admin.display(description="Suppressions of their address")
    def suppressions(self, obj: Person) -> str:
        return audience_admin.person_suppressions(obj)

    @admin.display(description="Messages (newest first)")
    def recent_messages(self, obj: Person) -> str:
        return audience_admin.person_messages(obj)

    @admin.display(description="Audit trail")
    def audit_trail(self, obj: Person) -> str:
        return audience_admin.person_trail(obj)

    def has_delete_permission(self, request, obj=None):
        # Messages keep their person (history stays): "delete" marks the
        # person deleted through the service instead.
        return False

    def has_unsubscribe_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.UNSUBSCRIBE_PERSON)

    def has_resubscribe_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.RESUBSCRIBE_PERSON)

    def has_markdeleted_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.DELETE_PERSON)

    @admin.action(description="Unsubscribe the selected people", permissions=["unsubscribe"])
    def unsubscribe_people(self, request: HttpRequest, queryset) -> None:
        change = audience_admin.admin_change(request)
        with transaction.atomic():
            people = list(queryset.filter(unsubscribed_at__isnull=True))
            for person in people:
                person_unsubscribe(person=person, change=change, reason="unsubscribed in the admin")
        self.message_user(request, f"Unsubscribed {len(people)} people.", messages.SUCCESS)

    @admin.action(description="Resubscribe the selected people", permissions=["resubscribe"])
    def resubscribe_people(self, request: HttpRequest, queryset) -> None:
        change = audience_admin.admin_change(request)
        with transaction.atomic():
            people = list(queryset.filter(unsubscribed_at__isnull=False))
            for person in people:
                person_resubscribe(person=person, change=change, reason="resubscribed in the admin")
        self.message_user(request, f"Resubscribed {len(people)} people.", messages.SUCCESS)

    @admin.action(
        description="Delete the selected people (later messages: undeliverable)",
        permissions=["markdeleted"],
    )
    def delete_people(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            people = list(queryset.filter(deleted_at__isnull=True))
            for person in people:
                person_delete(person=person)
        self.message_user(request, f"Marked {len(people)} people deleted.", messages.SUCCESS)


# --- Messages ---------------------------------------------------------------------


class LargeTablePaginator(Paginator):
    """The admin counts every change list; over an unfiltered table of
    millions of messages that COUNT(*) costs more than the page itself, so a
    large table reports PostgreSQL's estimate instead (filtered lists stay
    exact)."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        query = getattr(self.object_list, "query", None)
        if connection.vendor == "postgresql" and query is not None and not query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return row[0]
        return super().count


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("type", "occurred_at", "received_at", "source", "machine", "link", "reason")
    readonly_fields = fields
    ordering = ("occurred_at", "received_at", "id")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # Statuses and milestones are derived from events: never edited here.
    list_display = (
        "id",
        "campaign",
        "action",
        "channel",
        "address",
        "status",
        "failure_reason",
        "updated_at",
        "page_link",
    )
    list_filter = ("status", "channel", "campaign")
    list_select_related = ("campaign", "action")
    search_fields = ("=address", "=provider_message_id")
    inlines = [MessageEventInline]
    actions = ("send_drafts", "retry_failed")
    # The log can hold millions of rows: no unfiltered COUNT(*) per page.
    show_full_result_count = False
    paginator = LargeTablePaginator

    def get_queryset(self, request):
        return super().get_queryset(request).defer("body")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_send_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.SEND_MESSAGE)

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(access.RETRY_MESSAGE)

    def view_on_site(self, obj: Message) -> str:
        return reverse("messaging:message", args=[obj.pk])

    @admin.display(description="Page")
    def page_link(self, obj: Message) -> str:
        return format_html('<a href="{}">timeline</a>', reverse("messaging:message", args=[obj.pk]))

    def _bulk(self, request, queryset, *, status: str, service, done: str) -> None:
        chosen = list(queryset.filter(status=status, discarded_at__isnull=True))
        refused = []
        for message in chosen:
            try:
                service(message=message)
            except sending.NotAllowed as exc:
                refused.append(str(exc))
        skipped = queryset.count() - len(chosen)
        text = f"{done} {len(chosen) - len(refused)} messages."
        if skipped:
            text += f" {skipped} selected messages were not {status} and were left alone."
        self.message_user(request, text, messages.SUCCESS)
        for reason in refused[:10]:
            self.message_user(request, reason, messages.WARNING)

    @admin.action(description="Send the selected drafts", permissions=["send"])
    def send_drafts(self, request: HttpRequest, queryset) -> None:
        self._bulk(
            request,
            queryset,
            status=Status.DRAFTED,
            service=sending.message_send_draft,
            done="Queued",
        )

    @admin.action(description="Retry the selected failed messages", permissions=["retry"])
    def retry_failed(self, request: HttpRequest, queryset) -> None:
        self._bulk(
            request,
            queryset,
            status=Status.FAILED,
            service=sending.message_retry,
            done="Queued for a retry",
        )


# --- Suppressions -------------------------------------------------------------------


class SuppressionForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ("address", "reason", "note", "expires_at")
        # The whole note on the entry's page (the list shows its start).
        widgets = {"note": forms.Textarea(attrs={"rows": 3, "cols": 80})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "reason" in self.fields:  # the add form: a saved entry's reason is read-only
            # The reasons a person may add, as through the API and the import.
            field = self.fields["reason"]
            field.choices = [
                (value, label) for value, label in field.choices if not reason_refusal(value)
            ]

    def clean_address(self) -> str:
        address = normalise_address(self.cleaned_data["address"])
        validate_email(address)
        # An expired entry no longer suppresses: adding the address replaces it.
        taken = Suppression.objects.filter(active(), address=address)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise ValidationError(f"{address} is already on the suppression list.")
        return address

    def validate_unique(self) -> None:
        # clean_address checked the normalised address; the model's own check
        # would compare the raw one.
        pass


class ImportForm(forms.Form):
    file = forms.FileField(
        help_text="CSV with a header row: address, reason (manual, hard_bounce, "
        "spam_complaint; manual when empty), note, expires_at (ISO 8601 with a zone; "
        "empty = never). Other columns are ignored."
    )
    dry_run = forms.BooleanField(
        required=False, label="Dry run", help_text="Report what would happen; change nothing."
    )


NOTE_SHOWN = 80  # characters of a note in the list; the entry's page has it all


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionForm
    list_display = (
        "address",
        "reason",
        "note_start",
        "message_link",
        "author",
        "added",
        "expires_at",
    )
    list_filter = ("reason",)
    search_fields = ("address", "note")
    list_select_related = ("created_by",)
    raw_id_fields = ("message",)
    actions = ("export_selected",)
    change_list_template = "admin/messaging/suppression/change_list.html"

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("address", "reason", "note", "expires_at")
        return (
            "address",
            "reason",
            "note",
            "message",
            "created_by",
            "created_at",
            "expires_at",
            "audit_trail",
        )

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        # Once added, only the note is edited; a different address is a new
        # entry.
        return (
            "address",
            "reason",
            "message",
            "created_by",
            "created_at",
            "expires_at",
            "audit_trail",
        )

    def changelist_view(self, request, extra_context=None):
        # Expired entries leave the list (and their expiry enters the trail)
        # when they are due, not when the sweeper next runs.
        suppressions_expire_due()
        return super().changelist_view(request, extra_context)

    @admin.display(description="Audit trail of this address")
    def audit_trail(self, obj: Suppression) -> str:
        return audience_admin.address_trail(obj.address)

    @admin.display(description="Note", ordering="note")
    def note_start(self, obj: Suppression) -> str:
        if len(obj.note) <= NOTE_SHOWN:
            return obj.note
        return format_html('<span title="{}">{}…</span>', obj.note, obj.note[:NOTE_SHOWN])

    @admin.display(description="By", ordering="created_by__username")
    def author(self, obj: Suppression) -> str:
        return obj.created_by.get_username() if obj.created_by else "—"

    @admin.display(description="Added (UTC)", ordering="created_at")
    def added(self, obj: Suppression) -> str:
        # Short, so the note keeps the width (Django's format is "Nov. 29,
        # 2026, 5:06 p.m.").
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M")

    @admin.display(description="Message")
    def message_link(self, obj: Suppression) -> str:
        if obj.message_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("messaging:message", args=[obj.message_id]),
            obj.message_id,
        )

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["note"])
            return
        try:
            created = suppression_add(
                address=obj.address,
                reason=obj.reason,
                note=obj.note,
                created_by=request.user,
                expires_at=obj.expires_at,
                source=AuditSource.ADMIN,
            )
        except AlreadySuppressed:
            # Added by someone else between the form check and now: theirs
            # stands.
            created = Suppression.objects.get(address=normalise_address(obj.address))
        obj.pk = created.pk
        obj.created_at = created.created_at
        obj.created_by = created.created_by

    def delete_model(self, request, obj):
        suppression_remove(
            suppression=obj,
            source=AuditSource.ADMIN,
            actor=request.user,
            why="removed in the admin",
        )

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            for suppression in queryset:
                suppression_remove(
                    suppression=suppression,
                    source=AuditSource.ADMIN,
                    actor=request.user,
                    why="removed in the admin",
                )

    def get_urls(self):
        own = [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="messaging_suppression_import",
            ),
            path(
                "export/",
                self.admin_site.admin_view(self.export_view),
                name="messaging_suppression_export",
            ),
        ]
        return own + super().get_urls()

    def import_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        report = None
        form = ImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                report = suppressions_import(
                    data=upload.read(),
                    created_by=request.user,
                    dry_run=form.cleaned_data["dry_run"],
                )
            except ImportRefused as exc:
                form.add_error("file", f"Nothing imported: {exc}")
            else:
                level = messages.WARNING if report.invalid else messages.SUCCESS
                self.message_user(request, f"{upload.name}: {report.summary}.", level)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Import suppressions from CSV",
            "form": form,
            "report": report,
            "invalid_shown": report.invalid[:200] if report else [],
        }
        return TemplateResponse(request, "admin/messaging/suppression/import.html", context)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        suppressions_expire_due()
        # Exactly what the change list shows: its filters and search apply.
        changelist = self.get_changelist_instance(request)
        return self._csv(changelist.get_queryset(request))

    @admin.action(description="Export the selected suppressions as CSV", permissions=["view"])
    def export_selected(self, request: HttpRequest, queryset) -> HttpResponse:
        return self._csv(queryset)

    def _csv(self, queryset) -> StreamingHttpResponse:
        response = StreamingHttpResponse(
            suppressions_export_lines(queryset), content_type="text/csv; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="suppressions-{stamp}.csv"'
        return response


# The webhook inbox (messaging.webhooks.admin).
admin.site.register(WebhookRequest, WebhookRequestAdmin)
admin.site.register(ReportingWebhook, ReportingWebhookAdmin)
admin.site.register(ReportingDelivery, ReportingDeliveryAdmin)
