from django.contrib import admin

from messaging.models import Message, MessageEvent, Person, Suppression


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("external_id", "email", "phone", "unsubscribed_at", "deleted_at")
    search_fields = ("external_id", "email", "phone")


class MessageEventInline(admin.TabularInline):
    model = MessageEvent
    extra = 0
    can_delete = False
    fields = ("type", "occurred_at", "received_at", "source", "machine", "link", "reason")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    # Statuses and milestones are derived from events: never edited here.
    list_display = ("id", "campaign", "action", "channel", "address", "status", "updated_at")
    list_filter = ("status", "channel")
    list_select_related = ("campaign", "action")
    search_fields = ("address", "provider_message_id")
    inlines = [MessageEventInline]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("address", "reason", "note", "created_by", "created_at")
    list_filter = ("reason",)
    search_fields = ("address",)
    raw_id_fields = ("message",)
    readonly_fields = ("created_by", "created_at")

    def save_model(self, request, obj, form, change):
        obj.address = obj.address.strip().lower()
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
