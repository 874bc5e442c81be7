from django.contrib import admin

from campaigns.models import Action, Campaign, Link


class ActionInline(admin.StackedInline):
    model = Action
    extra = 0


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "conversion_event", "conversion_window_hours", "created_at")
    search_fields = ("name",)
    inlines = [ActionInline]


class LinkInline(admin.TabularInline):
    model = Link
    extra = 0


@admin.register(Action)
class ActionAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "channel", "send_as_draft")
    list_filter = ("channel",)
    inlines = [LinkInline]
