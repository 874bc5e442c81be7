from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from campaigns.models import Action, Campaign, Link
from campaigns.services import ATTRIBUTION_FIELDS, attribution_edited


class ActionInline(admin.StackedInline):
    model = Action
    extra = 0
    # Inside a campaign's page, "actions" says it (the model's own name is
    # "actions of a campaign" for the admin's index).
    verbose_name = "action"
    verbose_name_plural = "actions"
    fields = (
        ("name", "channel"),
        "subject",
        "body",
        "target",
        ("send_as_draft", "track_opens", "track_links"),
    )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "conversion_event",
        "attribution_rule",
        "conversion_window_hours",
        "attribution_state",
        "created_at",
        "page",
    )
    search_fields = ("name",)
    inlines = [ActionInline]
    fields = ("name", "conversion_event", "attribution_rule", "conversion_window_hours")

    def save_model(self, request, obj: Campaign, form, change: bool) -> None:
        # An edit of the goal, rule or window re-attributes (as the API's PATCH).
        if change and ATTRIBUTION_FIELDS & set(form.changed_data):
            attribution_edited(obj)
        super().save_model(request, obj, form, change)

    def view_on_site(self, obj: Campaign) -> str:
        return reverse("campaigns:detail", args=[obj.pk])

    @admin.display(description="Metrics")
    def page(self, obj: Campaign) -> str:
        return format_html('<a href="{}">metrics</a>', reverse("campaigns:detail", args=[obj.pk]))


class LinkInline(admin.TabularInline):
    model = Link
    extra = 0
    # A URL typed without a scheme is https (Django 6's default, said now).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "channel", "send_as_draft")
    list_filter = ("channel", "send_as_draft")
    list_select_related = ("campaign",)
    search_fields = ("name", "campaign__name")
    inlines = [LinkInline]
