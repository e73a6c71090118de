"""JSON API of the outgoing mail queue (Odoo's Settings › Technical › Emails), for staff only.

List with Odoo's search (from, to, subject) and state filters, read a row with its recipients and
failure reason, and the queue buttons: Retry, Send Now and Cancel Email, on one row
(``POST queue/<id>/retry/``) or on a selection (``POST queue/retry/ {"ids": [...]}``).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from chatter.api import InvalidRequest
from chatter.models import FailureType
from mailcore.api import PartnerSummarySerializer, query_text_param
from mailqueue import actions
from mailqueue.models import Mail, MailRecipient, MailState
from mailqueue.selectors import mail_search
from mailqueue.sender import SendReport


class MailRecipientSerializer(serializers.ModelSerializer[MailRecipient]):
    """One SMTP delivery of a row: who, where, and the server's answer."""

    partner = PartnerSummarySerializer(read_only=True)
    email = serializers.SerializerMethodField(help_text="The address used: the raw one, else the contact's.")
    failure_summary = serializers.CharField(
        read_only=True,
        help_text="One line from the SMTP answer (stage, code, enhanced status, text), else the failure type.",
    )

    class Meta:
        model = MailRecipient
        fields = [
            "id",
            "partner",
            "email",
            "notification",
            "state",
            "failure_type",
            "failure_reason",
            "failure_summary",
            "smtp_response",
            "sent_at",
        ]
        read_only_fields = fields

    def get_email(self, recipient: MailRecipient) -> str:
        if recipient.email:
            return recipient.email
        return recipient.partner.email if recipient.partner is not None else ""


class MailSerializer(serializers.ModelSerializer[Mail]):
    """A queue row as the list shows it."""

    author = PartnerSummarySerializer(source="message.author", read_only=True, allow_null=True)
    model = serializers.SerializerMethodField(help_text="The record's model, 'app_label.model'.")
    res_id = serializers.IntegerField(source="message.res_id", read_only=True, allow_null=True)
    recipient_count = serializers.IntegerField(read_only=True)
    failure_summary = serializers.CharField(
        read_only=True,
        help_text="One line from the SMTP answer (stage, code, enhanced status, text), else the failure type.",
    )
    retrying = serializers.BooleanField(
        read_only=True,
        help_text="Outgoing and waiting for its next attempt after a temporary failure (failure_reason says "
        "which); not failed: it fails only if the retry window ends first.",
    )
    retry_gives_up_at = serializers.DateTimeField(
        read_only=True,
        allow_null=True,
        help_text="When the retry window ends: a temporary failure after it fails the row.",
    )

    class Meta:
        model = Mail
        fields = [
            "id",
            "created_at",
            "subject",
            "email_from",
            "author",
            "model",
            "res_id",
            "message",
            "state",
            "failure_type",
            "failure_reason",
            "failure_summary",
            "scheduled_date",
            "urgent",
            "auto_delete",
            "attempt_count",
            "next_attempt_at",
            "retrying",
            "first_failure_at",
            "retry_gives_up_at",
            "server_used",
            "recipient_count",
        ]
        read_only_fields = fields

    def get_model(self, mail: Mail) -> str | None:
        content_type = mail.message.model
        return f"{content_type.app_label}.{content_type.model}" if content_type is not None else None


class MailDetailSerializer(MailSerializer):
    """A queue row with its content, headers and per-recipient deliveries."""

    recipients = MailRecipientSerializer(many=True, read_only=True)

    class Meta(MailSerializer.Meta):
        fields = [
            *MailSerializer.Meta.fields,
            "reply_to",
            "email_to",
            "body_html",
            "headers",
            "references",
            "in_reply_to",
            "mail_server",
            "recipients",
        ]
        read_only_fields = fields


class MailIdsSerializer(serializers.Serializer[Any]):
    # Ids are 64-bit: a larger number fails in the database (a server error) instead of matching nothing.
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), min_length=1, max_length=10_000
    )


class SendReportSerializer(serializers.Serializer[SendReport]):
    """What Send Now did: rows claimed and sent, recipients failed, retried later or held by the quota."""

    claimed = serializers.IntegerField(help_text="Rows taken for sending (others were not outgoing, or busy).")
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    retried = serializers.IntegerField(help_text="Temporary failures, tried again later with backoff.")
    canceled = serializers.IntegerField()
    deferred_quota = serializers.IntegerField(help_text="Held back by the daily limit until its reset.")
    mail_ids = serializers.ListField(child=serializers.IntegerField())


ActionResultSerializer = inline_serializer(
    "QueueActionResult",
    {
        "count": serializers.IntegerField(help_text="Rows the action changed."),
    },
)

_LIST_PARAMETERS = [
    OpenApiParameter("state", OpenApiTypes.STR, enum=MailState.values, description="Only rows in this state."),
    OpenApiParameter(
        "failure_type", OpenApiTypes.STR, enum=FailureType.values, description="Only rows with this failure type."
    ),
    OpenApiParameter("search", OpenApiTypes.STR, description="Part of the From, a recipient (To) or the subject."),
]


@extend_schema_view(list=extend_schema(parameters=_LIST_PARAMETERS))
class MailViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Mail]):
    """The outgoing mail queue (Odoo ``mail.mail``), newest first. Staff only."""

    permission_classes = [permissions.IsAdminUser]
    queryset = Mail.objects.all()
    lookup_value_converter = "int"

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Mail]]:
        return MailDetailSerializer if self.action == "retrieve" else MailSerializer

    def get_queryset(self) -> QuerySet[Mail]:
        queryset: QuerySet[Mail] = (
            Mail.objects.select_related("message__author", "message__model")
            .annotate(recipient_count=Count("recipients"))
            .order_by("-id")
        )
        if self.action == "retrieve":
            queryset = queryset.prefetch_related("recipients__partner")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        state = params.get("state")
        if state:
            if state not in MailState.values:
                raise serializers.ValidationError(
                    {
                        "state": [
                            _("Unknown state %(state)r; expected one of %(states)s.")
                            % {"state": state, "states": ", ".join(MailState.values)}
                        ]
                    }
                )
            queryset = queryset.filter(state=state)
        failure_type = params.get("failure_type")
        if failure_type:
            if failure_type not in FailureType.values:
                raise serializers.ValidationError(
                    {"failure_type": [_("Unknown failure type %(type)r.") % {"type": failure_type}]}
                )
            queryset = queryset.filter(failure_type=failure_type)
        search = query_text_param(params, "search")
        if search:
            queryset = mail_search(queryset, search)
        return queryset

    # --- per-row buttons ------------------------------------------------------------------------
    def _refused(self, verb: str, allowed: str, *, retry: bool = False) -> InvalidRequest:
        """The 400 for a button clicked on a row in a state it does not apply to (Odoo hides it)."""
        pk = self.kwargs["pk"]
        mail = Mail.objects.filter(pk=pk).first()
        if mail is None:
            return InvalidRequest(
                _("Mail %(id)s cannot be %(verb)s: it no longer exists (sent and auto-deleted?).")
                % {"id": pk, "verb": verb}
            )
        if mail.state == MailState.OUTGOING and mail.lease_until is not None and mail.lease_until > timezone.now():
            return InvalidRequest(
                _("Mail %(id)s cannot be %(verb)s: a worker is sending it right now.") % {"id": pk, "verb": verb}
            )
        if retry and mail.state in (MailState.EXCEPTION, MailState.CANCEL):
            return InvalidRequest(
                _(
                    "Mail %(id)s cannot be retried: it has no recipient left to send to "
                    "(its failures were ignored or resent from the Delivery failure dialog)."
                )
                % {"id": pk}
            )
        return InvalidRequest(
            _("Mail %(id)s cannot be %(verb)s: it is %(state)s; %(allowed)s.")
            % {"id": pk, "verb": verb, "state": MailState(mail.state).label, "allowed": allowed}
        )

    @extend_schema(
        summary="Retry: put a failed or cancelled row back in the queue", request=None, responses=ActionResultSerializer
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: int | None = None) -> Response:
        mail = self.get_object()
        if not actions.mail_retry(mail_ids=[mail.pk]):
            raise self._refused(
                _("retried"), _("only failed or cancelled mail, or mail waiting to retry, can be"), retry=True
            )
        return Response({"count": 1})

    @extend_schema(
        summary="Cancel Email: take an outgoing row out of the queue", request=None, responses=ActionResultSerializer
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        mail = self.get_object()
        if not actions.mail_cancel(mail_ids=[mail.pk]):
            raise self._refused(_("cancelled"), _("only outgoing mail can be"))
        return Response({"count": 1})

    @extend_schema(summary="Send Now: send an outgoing row at once", request=None, responses=SendReportSerializer)
    @action(detail=True, methods=["post"])
    def send_now(self, request: Request, pk: int | None = None) -> Response:
        mail = self.get_object()
        report = actions.mail_send_now(mail_ids=[mail.pk])
        if not report.claimed:
            raise self._refused(_("sent now"), _("only outgoing mail can be (Retry a failed one first)"))
        return Response(SendReportSerializer(report).data)

    # --- bulk buttons (a selection of rows) ------------------------------------------------------
    def _ids(self, request: Request) -> list[int]:
        serializer = MailIdsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return list(dict.fromkeys(serializer.validated_data["ids"]))

    @extend_schema(
        summary="Retry a selection of rows",
        operation_id="queue_bulk_retry",
        request=MailIdsSerializer,
        responses=ActionResultSerializer,
    )
    @action(detail=False, methods=["post"], url_path="retry", url_name="bulk-retry")
    def bulk_retry(self, request: Request) -> Response:
        return Response({"count": actions.mail_retry(mail_ids=self._ids(request))})

    @extend_schema(
        summary="Cancel a selection of rows",
        operation_id="queue_bulk_cancel",
        request=MailIdsSerializer,
        responses=ActionResultSerializer,
    )
    @action(detail=False, methods=["post"], url_path="cancel", url_name="bulk-cancel")
    def bulk_cancel(self, request: Request) -> Response:
        return Response({"count": actions.mail_cancel(mail_ids=self._ids(request))})

    @extend_schema(
        summary="Send a selection of rows now",
        operation_id="queue_bulk_send_now",
        request=MailIdsSerializer,
        responses=SendReportSerializer,
    )
    @action(detail=False, methods=["post"], url_path="send_now", url_name="bulk-send-now")
    def bulk_send_now(self, request: Request) -> Response:
        return Response(SendReportSerializer(actions.mail_send_now(mail_ids=self._ids(request))).data)
