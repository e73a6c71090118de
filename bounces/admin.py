"""Admin of inbound mail and bounce events (read-only: the gateway writes them)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from bounces import services
from bounces.models import BounceEvent, InboundMessage


@admin.register(InboundMessage)
class InboundMessageAdmin(admin.ModelAdmin):
    list_display = ("received_at", "queue_id", "mail_from_display", "subject", "decision", "state", "size")
    list_filter = ("decision", "state", "is_auto_submitted")
    search_fields = ("queue_id", "message_id", "mail_from", "email_from", "subject", "sender_email")
    date_hierarchy = "received_at"
    exclude = ("raw",)
    readonly_fields = [f.name for f in InboundMessage._meta.fields if f.name != "raw"] + ["download"]
    actions = ["reprocess"]
    list_select_related = ("routed_model",)

    # The SMTP command's name, as the field's label: "<>" for the null sender.
    @admin.display(description="MAIL FROM", ordering="mail_from")
    def mail_from_display(self, obj: InboundMessage) -> str:
        return obj.mail_from_display

    @admin.display(description=_("raw message"))
    def download(self, obj: InboundMessage) -> str:
        url = reverse("bounces:inbound_eml", args=[obj.pk])
        return format_html('<a href="{}">{}</a> ({})', url, gettext("Download .eml"), filesizeformat(obj.size))

    @admin.action(description=_("Process again (rows in error)"))
    def reprocess(self, request: HttpRequest, queryset: QuerySet[InboundMessage]) -> None:
        count = services.inbound_reprocess(inbound_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext(
                "%(count)d message queued for processing again.",
                "%(count)d messages queued for processing again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(BounceEvent)
class BounceEventAdmin(admin.ModelAdmin):
    list_display = ("date", "email", "action", "status", "reason", "hard", "attributed_by")
    list_filter = ("action", "reason", "hard", "attributed_by")
    search_fields = ("email", "diagnostic", "status")
    date_hierarchy = "date"
    raw_id_fields = ("partner", "inbound", "message", "notification")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
