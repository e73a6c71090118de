"""Django admin for chatter messages (with their notifications), followers and subtypes."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from chatter.models import Follower, Message, MessageSubtype, Notification


class NotificationInline(admin.TabularInline):
    model = Notification
    extra = 0
    can_delete = False
    fields = (
        "res_partner",
        "notification_type",
        "notification_status",
        "failure_type",
        "failure_reason",
        "is_read",
        "read_date",
    )
    readonly_fields = fields
    raw_id_fields = ("res_partner",)

    def has_add_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Message | None = None) -> bool:
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "date", "record_name", "model", "res_id", "message_type", "subtype", "author", "subject")
    list_filter = ("message_type", "subtype", "model")
    search_fields = ("subject", "body", "email_from", "message_id", "record_name")
    date_hierarchy = "date"
    list_select_related = ("model", "subtype", "author")
    raw_id_fields = ("author", "parent", "partners", "attachments", "mail_server", "record_alias_domain")
    readonly_fields = ("message_id", "date")
    inlines = [NotificationInline]


@admin.register(Follower)
class FollowerAdmin(admin.ModelAdmin):
    list_display = ("partner", "model", "res_id")
    list_filter = ("model",)
    search_fields = ("partner__name", "partner__email")
    list_select_related = ("partner", "model")
    raw_id_fields = ("partner",)
    filter_horizontal = ("subtypes",)


@admin.register(MessageSubtype)
class MessageSubtypeAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "res_model", "internal", "default", "hidden", "sequence")
    list_filter = ("internal", "default", "hidden", "res_model")
    search_fields = ("name", "code")
    ordering = ("sequence", "id")
