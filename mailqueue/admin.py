"""Django admin for the outgoing queue (Odoo's Settings › Technical › Emails) and the delivery log.

Retry, Send Now and Cancel Email call the services of :mod:`mailqueue.actions`; rows and their
recipients are otherwise read-only here, because their state changes only through services.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from mailqueue.actions import mail_cancel, mail_retry, mail_send_now
from mailqueue.models import DeliveryLog, Mail, MailRecipient


class MailRecipientInline(admin.TabularInline):
    model = MailRecipient
    extra = 0
    can_delete = False
    fields = ("partner", "email", "state", "failure_type", "failure_reason", "smtp_response", "sent_at", "notification")
    readonly_fields = fields
    raw_id_fields = ("partner", "notification")

    def has_add_permission(self, request: HttpRequest, obj: Mail | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Mail | None = None) -> bool:
        return False


@admin.register(Mail)
class MailAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "subject",
        "email_from",
        "state",
        "failure_type",
        "attempt_count",
        "next_attempt_at",
        "scheduled_date",
        "server_used",
        "created_at",
    )
    list_filter = ("state", "failure_type", "urgent", "auto_delete")
    search_fields = ("subject", "email_from", "email_to", "failure_reason", "message__message_id")
    date_hierarchy = "created_at"
    ordering = ("-id",)
    inlines = [MailRecipientInline]
    actions = ["action_retry", "action_send_now", "action_cancel"]
    raw_id_fields = ("message", "mail_server")
    readonly_fields = (
        "message",
        "is_notification",
        "subject",
        "email_from",
        "reply_to",
        "email_to",
        "body_html",
        "headers",
        "references",
        "in_reply_to",
        "state",
        "failure_type",
        "failure_reason",
        "scheduled_date",
        "auto_delete",
        "urgent",
        "mail_server",
        "server_used",
        "attempt_count",
        "next_attempt_at",
        "lease_until",
        "lease_owner",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Retry"))
    def action_retry(self, request: HttpRequest, queryset: QuerySet[Mail]) -> None:
        count = mail_retry(mail_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d e-mail put back in the queue.", "%(count)d e-mails put back in the queue.", count)
            % {"count": count},
            messages.SUCCESS,
        )

    @admin.action(description=_("Send Now"))
    def action_send_now(self, request: HttpRequest, queryset: QuerySet[Mail]) -> None:
        report = mail_send_now(mail_ids=list(queryset.values_list("pk", flat=True)))
        if not report.claimed:
            self.message_user(
                request, gettext("Nothing to send: only outgoing e-mails can be sent now."), messages.WARNING
            )
            return
        level = messages.SUCCESS if not (report.failed or report.retried or report.deferred_quota) else messages.WARNING
        self.message_user(
            request,
            ngettext(
                "%(count)d e-mail processed: %(sent)d sent, %(failed)d failed, %(retried)d will be retried, "
                "%(waiting)d waiting for the daily limit.",
                "%(count)d e-mails processed: %(sent)d sent, %(failed)d failed, %(retried)d will be retried, "
                "%(waiting)d waiting for the daily limit.",
                report.claimed,
            )
            % {
                "count": report.claimed,
                "sent": report.sent,
                "failed": report.failed,
                "retried": report.retried,
                "waiting": report.deferred_quota,
            },
            level,
        )

    @admin.action(description=_("Cancel Email"))
    def action_cancel(self, request: HttpRequest, queryset: QuerySet[Mail]) -> None:
        count = mail_cancel(mail_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request,
            ngettext("%(count)d e-mail cancelled.", "%(count)d e-mails cancelled.", count) % {"count": count},
            messages.SUCCESS,
        )


@admin.register(DeliveryLog)
class DeliveryLogAdmin(admin.ModelAdmin):
    """The history that outlives auto-delete: read-only."""

    list_display = ("date", "message_id", "recipient", "server", "success", "smtp_response")
    list_filter = ("success", "server")
    search_fields = ("message_id", "recipient", "smtp_response")
    date_hierarchy = "date"
    raw_id_fields = ("chatter_message",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: DeliveryLog | None = None) -> bool:
        return False
