"""Django admin for contacts, outgoing servers, alias domains, aliases and the quota counter.

The admin parses input, calls one service and formats the answer: the "Test
Connection" action is :func:`mailcore.servers.server_test_connection` with Odoo's messages.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext_lazy as _

from mailcore.models import Alias, AliasDomain, MailServer, Partner, QuotaDay
from mailcore.quota import quota_status
from mailcore.servers import server_test_connection


@admin.register(MailServer)
class MailServerAdmin(admin.ModelAdmin):
    list_display = ("name", "smtp_host", "smtp_port", "smtp_encryption", "from_filter", "sequence", "active")
    list_filter = ("active", "smtp_encryption")
    list_editable = ("sequence",)
    search_fields = ("name", "smtp_host", "from_filter")
    ordering = ("sequence", "id")
    actions = ["test_connection"]
    fieldsets = (
        (None, {"fields": ("name", "from_filter", "sequence", "active")}),
        (_("Connection"), {"fields": ("smtp_host", "smtp_port", "smtp_encryption", "smtp_timeout")}),
        (_("Authentication"), {"fields": ("smtp_user", "smtp_pass")}),
    )

    @admin.action(description=_("Test Connection"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[MailServer]) -> None:
        """Odoo's "Test Connection" button, for each selected server."""
        for server in queryset:
            ok, text = server_test_connection(server)
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{server.name}: {text}", level)


@admin.register(AliasDomain)
class AliasDomainAdmin(admin.ModelAdmin):
    list_display = ("name", "bounce_email", "catchall_email", "default_from_email", "sequence")
    search_fields = ("name",)
    ordering = ("sequence", "id")


@admin.register(Alias)
class AliasAdmin(admin.ModelAdmin):
    list_display = ("display_email", "alias_model", "alias_force_thread_id", "alias_contact", "active")
    list_filter = ("active", "alias_contact", "alias_domain", "alias_model")
    search_fields = ("alias_name",)
    list_select_related = ("alias_domain", "alias_model")


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ("name", "email", "message_bounce", "is_blacklisted", "user", "notification_type", "active")
    list_filter = ("is_blacklisted", "notification_type", "active")
    search_fields = ("name", "email", "email_normalized")
    readonly_fields = ("email_normalized", "created_at")
    list_select_related = ("user",)
    raw_id_fields = ("user",)


@admin.register(QuotaDay)
class QuotaDayAdmin(admin.ModelAdmin):
    """The daily counter of the built-in server: read-only, it is written only by the sender."""

    list_display = ("day", "count")
    ordering = ("-day",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: QuotaDay | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: QuotaDay | None = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, object] | None = None) -> HttpResponse:
        status = quota_status()
        limit = "unlimited" if status.limit is None else str(status.limit)
        self.message_user(
            request,
            f"Today: {status.used} of {limit} sent through the built-in server; "
            f"the quota resets at {status.reset_at:%Y-%m-%d %H:%M} UTC.",
            messages.INFO,
        )
        return super().changelist_view(request, extra_context)
