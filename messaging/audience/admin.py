"""The admin's audience pages (registered from messaging.admin): the audit
trail as its own read-only list, the blocks the person page and the
suppression page show (one page answers "why didn't this person get our
email?"), and erase behind a confirmation."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from config import access
from messaging.audience.audit import AuditEntry, AuditSource, Change
from messaging.audience.erase import person_erase
from messaging.audience.suppression import (
    active,
    address_digest,
    normalise_address,
    suppressions_expire_due,
)
from messaging.models import Message, Person, Suppression

PERSON_MESSAGES_SHOWN = 50
TRAIL_SHOWN = 100


def admin_change(request: HttpRequest) -> Change:
    return Change(source=AuditSource.ADMIN, actor=request.user)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: nothing edits or deletes the trail."""

    list_display = (
        "at",
        "subject",
        "action",
        "address",
        "person_link",
        "reason",
        "source",
        "actor_name",
        "message_link",
    )
    list_filter = ("subject", "action", "source", ("at", admin.DateFieldListFilter))
    search_fields = ("=address", "person__external_id", "actor_name", "reason")
    list_select_related = ("person",)
    date_hierarchy = "at"
    show_full_result_count = False

    def has_view_permission(self, request, obj=None):
        # The API's permission for the trail, not Django's view_auditentry,
        # which no role holds.
        return request.user.has_perm(access.VIEW_AUDIT)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        suppressions_expire_due()  # expiries are in the trail as soon as they are due
        return super().changelist_view(request, extra_context)

    def get_search_results(self, request, queryset, search_term):
        # An address also finds its rows after the person was erased.
        results, distinct = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if "@" in term:
            results |= queryset.filter(address=address_digest(term))
        return results, distinct

    @admin.display(description="Person")
    def person_link(self, obj: AuditEntry) -> str:
        if obj.person_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:messaging_person_change", args=[obj.person_id]),
            obj.person.external_id if obj.person else obj.person_id,
        )

    @admin.display(description="Message")
    def message_link(self, obj: AuditEntry) -> str:
        if obj.message_id is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a>',
            reverse("messaging:message", args=[obj.message_id]),
            obj.message_id,
        )


def _trail_table(rows: QuerySet[AuditEntry]) -> str:
    rows = list(rows.select_related("person")[:TRAIL_SHOWN])
    if not rows:
        return format_html('<p class="audit-empty">{}</p>', "No changes recorded.")
    body = format_html_join(
        "",
        "<tr><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                timezone.localtime(row.at).strftime("%Y-%m-%d %H:%M:%S"),
                row.subject,
                row.action,
                row.address or "—",
                row.reason,
                row.source + (f" · {row.actor_name}" if row.actor_name else ""),
                format_html(
                    '<a href="{}">message {}</a>',
                    reverse("messaging:message", args=[row.message_id]),
                    row.message_id,
                )
                if row.message_id
                else "—",
            )
            for row in rows
        ),
    )
    return format_html(
        '<table class="audit-trail"><thead><tr><th>When</th><th>Change</th><th>Address</th>'
        "<th>Why</th><th>Source · who</th><th>Cause</th></tr></thead><tbody>{}</tbody></table>",
        body,
    )


def address_trail(address: str) -> str:
    address = normalise_address(address)
    return _trail_table(
        AuditEntry.objects.filter(address__in=[address, address_digest(address)]).order_by(
            "-at", "-id"
        )
    )


def person_trail(person: Person) -> str:
    who = Q(person_id=person.pk)
    if person.email:
        address = normalise_address(person.email)
        who |= Q(address__in=[address, address_digest(address)])
    return _trail_table(AuditEntry.objects.filter(who).order_by("-at", "-id"))


def person_subscription(person: Person) -> str:
    if person.erased_at is not None:
        return format_html(
            "<strong>Erased</strong> on {} (personal data removed; the address stays "
            "suppressed as its digest)",
            timezone.localtime(person.erased_at).strftime("%Y-%m-%d %H:%M"),
        )
    parts = []
    if person.unsubscribed_at is not None:
        parts.append(
            format_html(
                "<strong>Unsubscribed</strong> since {}: no email, SMS or push is sent "
                "(Slack and webhook actions still go)",
                timezone.localtime(person.unsubscribed_at).strftime("%Y-%m-%d %H:%M"),
            )
        )
    else:
        parts.append(format_html("<strong>{}</strong>", "Subscribed"))
    if person.deleted_at is not None:
        parts.append(
            format_html("<strong>{}</strong>: every later message is undeliverable", "Deleted")
        )
    return format_html_join(mark_safe("<br>"), "{}", ((part,) for part in parts))


def person_suppressions(person: Person) -> str:
    if not person.email:
        return format_html("{}", "No email address.")
    address = normalise_address(person.email)
    now = timezone.now()
    rows = list(Suppression.objects.filter(address__in=[address, address_digest(address)]))
    if not rows:
        return format_html("{} is not on the suppression list.", address)
    suppressing = set(
        Suppression.objects.filter(active(now), id__in=[r.id for r in rows]).values_list(
            "id", flat=True
        )
    )
    return format_html_join(
        mark_safe("<br>"),
        '<a href="{}">{}</a> — {}{}{}',
        (
            (
                reverse("admin:messaging_suppression_change", args=[row.id]),
                row.address,
                row.reason,
                f": {row.note}" if row.note else "",
                " (suppressing"
                + (f" until {row.expires_at:%Y-%m-%d %H:%M})" if row.expires_at else ")")
                if row.id in suppressing
                else " (expired: no longer suppresses)",
            )
            for row in rows
        ),
    )


def person_messages(person: Person) -> str:
    rows = list(
        Message.objects.filter(person=person, discarded_at__isnull=True)
        .order_by("-id")
        .values("id", "channel", "status", "failure_reason", "created_at", "campaign__name")[
            :PERSON_MESSAGES_SHOWN
        ]
    )
    if not rows:
        return format_html("{}", "No messages.")
    body = format_html_join(
        "",
        '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        "<td>{}</td></tr>",
        (
            (
                reverse("messaging:message", args=[row["id"]]),
                row["id"],
                timezone.localtime(row["created_at"]).strftime("%Y-%m-%d %H:%M"),
                row["campaign__name"],
                row["channel"],
                row["status"],
                row["failure_reason"] or "",
            )
            for row in rows
        ),
    )
    return format_html(
        '<table class="person-messages"><thead><tr><th>Message</th><th>Created</th>'
        "<th>Campaign</th><th>Channel</th><th>Status</th><th>Reason</th></tr></thead>"
        "<tbody>{}</tbody></table>",
        body,
    )


def erase_view(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> HttpResponse:
    """A confirmation page; the POST of its form erases."""
    if not model_admin.has_erase_permission(request):
        raise PermissionDenied
    person = model_admin.get_object(request, object_id)
    if person is None:
        return HttpResponseRedirect(reverse("admin:messaging_person_changelist"))
    change_url = reverse("admin:messaging_person_change", args=[person.pk])
    if request.method == "POST" and request.POST.get("confirm") == "yes":
        person_erase(person=person, change=admin_change(request))
        model_admin.message_user(
            request,
            f"Erased the personal data of {person.external_id}; the address stays suppressed "
            "as its digest.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(change_url)
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Erase {person.external_id}?",
        "person": person,
        "message_count": Message.objects.filter(person=person).count(),
        "change_url": change_url,
    }
    return TemplateResponse(request, "admin/messaging/person/erase_confirmation.html", context)
