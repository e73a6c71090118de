"""JSON API of e-mail marketing: mailing lists, their members, and the CSV contact import.

Needs the ``marketing.change_mailinglist`` permission, like the pages.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from chatter.api import AttachmentSerializer
from mailcore.contacts import contact_email_clean
from mailcore.exceptions import InvalidEmailError
from marketing import selectors, services
from marketing.attachments import UploadedFile, mailing_attachments, mailing_attachments_add, mailing_attachments_remove
from marketing.exceptions import AttachmentsTooLarge, ContactImportError, MailingNotReady
from marketing.models import Mailing, MailingList, MailingState, MailingSubscription, MailingTranslation
from marketing.queue import mailing_resume


class CanManageLists(permissions.BasePermission):
    message = gettext_lazy("Managing mailing lists needs the Email Marketing permission.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.has_perm("marketing.change_mailinglist"))


class ListCountsSerializer(serializers.Serializer[Any]):
    contacts = serializers.IntegerField()
    reachable = serializers.IntegerField(help_text="Subscribed, with a valid address that is not blacklisted.")
    opted_out = serializers.IntegerField()
    blacklisted = serializers.IntegerField()
    bounced = serializers.IntegerField(help_text="Members with at least one hard bounce.")


class MailingListSerializer(serializers.ModelSerializer[MailingList]):
    counts = serializers.SerializerMethodField()

    class Meta:
        model = MailingList
        fields = ["id", "name", "is_public", "active", "created_at", "counts"]
        read_only_fields = ["created_at", "counts"]

    @extend_schema_field(ListCountsSerializer)
    def get_counts(self, obj: MailingList) -> dict[str, int]:
        counts = selectors.list_counts(obj)
        return {
            "contacts": counts.contacts,
            "reachable": counts.reachable,
            "opted_out": counts.opted_out,
            "blacklisted": counts.blacklisted,
            "bounced": counts.bounced,
        }

    def validate_name(self, value: str) -> str:
        return value.strip()


class MemberSerializer(serializers.ModelSerializer[MailingSubscription]):
    contact_id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(source="contact.name", read_only=True)
    email = serializers.CharField(source="contact.email_normalized", read_only=True)
    is_blacklisted = serializers.BooleanField(source="contact.is_blacklisted", read_only=True)

    class Meta:
        model = MailingSubscription
        fields = ["id", "contact_id", "name", "email", "is_blacklisted", "opt_out", "opt_out_datetime", "created_at"]
        read_only_fields = fields


class AddMemberSerializer(serializers.Serializer[Any]):
    email = serializers.CharField(max_length=255)
    name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")

    def validate_email(self, value: str) -> str:
        try:
            return contact_email_clean(value, required=True)
        except InvalidEmailError as exc:
            raise serializers.ValidationError(str(exc), code="mail_email_invalid") from exc


class ImportRequestSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="UTF-8 CSV whose first line names the columns: name, email, list.")
    mailing_list = serializers.PrimaryKeyRelatedField(
        queryset=MailingList.objects.filter(active=True),
        required=False,
        allow_null=True,
        help_text="The list for lines whose 'list' column is empty.",
    )


ImportResultSerializer = inline_serializer(
    "ContactImportResult",
    {
        "rows": serializers.IntegerField(),
        "contacts_created": serializers.IntegerField(),
        "contacts_existing": serializers.IntegerField(),
        "subscriptions_added": serializers.IntegerField(),
        "subscriptions_already": serializers.IntegerField(),
        "kept_opted_out": serializers.IntegerField(),
        "blacklisted": serializers.IntegerField(),
        "lists": serializers.ListField(child=serializers.CharField()),
    },
)
ImportErrorSerializer = inline_serializer(
    "ContactImportErrors",
    {
        "detail": serializers.CharField(),
        "errors": inline_serializer(
            "ContactImportLineError",
            {"line": serializers.IntegerField(), "message": serializers.CharField()},
            many=True,
        ),
    },
)


class MailingListViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[MailingList],
):
    """Mailing lists (Odoo ``mailing.list``) with their counters; members; the contact import."""

    serializer_class = MailingListSerializer
    permission_classes = [permissions.IsAuthenticated, CanManageLists]
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[MailingList]:
        return selectors.mailing_lists_with_counts(include_archived=self.action != "list")

    def perform_create(self, serializer: serializers.BaseSerializer[MailingList]) -> None:
        data = serializer.validated_data
        serializer.instance = services.mailing_list_create(name=data["name"], is_public=data.get("is_public", True))

    @extend_schema(request=AddMemberSerializer, responses={200: MemberSerializer(many=True), 201: MemberSerializer})
    @action(detail=True, methods=["get", "post"], serializer_class=MemberSerializer)
    def members(self, request: Request, pk: int | None = None) -> Response:
        """GET: the members, with their opt-out state. POST {email, name}: add a contact (created if new)."""
        mailing_list = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.list_members(mailing_list=mailing_list))  # type: ignore[arg-type]
            return self.get_paginated_response(MemberSerializer(page, many=True).data)
        incoming = AddMemberSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        contact, result = services.member_add(
            mailing_list=mailing_list, email=incoming.validated_data["email"], name=incoming.validated_data["name"]
        )
        subscription = MailingSubscription.objects.select_related("contact").get(
            mailing_list=mailing_list, contact=contact
        )
        code = status.HTTP_201_CREATED if result.added else status.HTTP_200_OK
        return Response(MemberSerializer(subscription).data, status=code)

    @extend_schema(
        request={"multipart/form-data": ImportRequestSerializer},
        responses={
            201: ImportResultSerializer,
            400: ImportErrorSerializer,
        },
    )
    @action(detail=False, methods=["post"], url_path="import", parser_classes=[MultiPartParser])
    def import_contacts(self, request: Request) -> Response:
        """Import contacts from CSV. One bad line refuses the whole file (400 with every bad line)."""
        incoming = ImportRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            result = services.contacts_import_csv(
                data=incoming.validated_data["file"].read(), default_list=incoming.validated_data.get("mailing_list")
            )
        except ContactImportError as exc:
            return Response(
                {
                    "detail": _("Nothing was imported: correct these lines and import the file again."),
                    "errors": [asdict(error) for error in exc.errors],
                },
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(asdict(result), status=status.HTTP_201_CREATED)


class AttachmentUploadSerializer(serializers.Serializer[Any]):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)


class MailingTranslationSerializer(serializers.ModelSerializer[MailingTranslation]):
    class Meta:
        model = MailingTranslation
        fields = ["lang", "subject", "preview", "body_html"]


class MailingSerializer(serializers.ModelSerializer[Mailing]):
    translations = MailingTranslationSerializer(
        many=True,
        required=False,
        help_text="The text in other languages: each contact gets the variant of its language, else the main text.",
    )
    mailing_lists = serializers.PrimaryKeyRelatedField(
        many=True, queryset=MailingList.objects.filter(active=True), required=False
    )
    target_model = serializers.SlugRelatedField(
        slug_field="model",
        queryset=ContentType.objects.all(),
        required=False,
        allow_null=True,
        help_text="The model name of records with a chatter, e.g. 'lead'; the contacts of its records are mailed.",
    )
    problems = serializers.SerializerMethodField(help_text="Every reason the campaign cannot be sent as it is.")
    attachments = serializers.SerializerMethodField(help_text="Files every mail of the campaign carries.")

    class Meta:
        model = Mailing
        fields = [
            "id",
            "subject",
            "preview",
            "email_from",
            "reply_to_mode",
            "reply_to",
            "body_html",
            "translations",
            "mailing_lists",
            "target_model",
            "target_filter",
            "mail_server",
            "track_opens",
            "track_clicks",
            "state",
            "state_reason",
            "schedule_type",
            "schedule_date",
            "sent_date",
            "created_at",
            "problems",
            "attachments",
        ]
        read_only_fields = ["state", "state_reason", "schedule_type", "schedule_date", "sent_date", "created_at"]

    def get_problems(self, obj: Mailing) -> list[str]:
        return services.mailing_errors(obj)

    @extend_schema_field(AttachmentSerializer(many=True))
    def get_attachments(self, obj: Mailing) -> list[dict[str, Any]]:
        return [dict(AttachmentSerializer(a).data) for a in mailing_attachments(obj)]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and self.instance.state != MailingState.DRAFT:
            raise serializers.ValidationError(_("Only a draft can be changed: cancel the campaign first."))
        return attrs

    def validate_translations(self, value: list[dict[str, str]]) -> list[dict[str, str]]:
        langs = [variant["lang"] for variant in value]
        if len(set(langs)) != len(langs):
            raise serializers.ValidationError(_("Each language can have one variant only."))
        return value

    def create(self, validated_data: dict[str, Any]) -> Mailing:
        variants = validated_data.pop("translations", None)
        mailing = super().create(validated_data)
        if variants is not None:
            services.mailing_translations_set(mailing=mailing, variants=variants)
        return mailing

    def update(self, instance: Mailing, validated_data: dict[str, Any]) -> Mailing:
        variants = validated_data.pop("translations", None)
        mailing = super().update(instance, validated_data)
        if variants is not None:
            services.mailing_translations_set(mailing=mailing, variants=variants)
        return mailing


class ScheduleSerializer(serializers.Serializer[Any]):
    schedule_date = serializers.DateTimeField(required=False, allow_null=True, help_text="Empty: send now.")


STATISTICS_COUNTS = (
    "bounced_hard",
    "expected",
    "scheduled",
    "canceled",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "replied",
    "bounced",
    "failed",
)
STATISTICS_RATIOS = ("received_ratio", "opened_ratio", "replied_ratio", "bounced_ratio", "clicks_ratio")
StatisticsSerializer = inline_serializer(
    "MailingStatistics",
    {
        **{name: serializers.IntegerField() for name in STATISTICS_COUNTS},
        **{name: serializers.FloatField() for name in STATISTICS_RATIOS},
        "excluded": serializers.DictField(child=serializers.IntegerField()),
    },
)


class MailingViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Mailing],
):
    """Campaigns (Odoo ``mailing.mailing``): create and edit drafts, send or schedule, cancel, statistics."""

    serializer_class = MailingSerializer
    permission_classes = [permissions.IsAuthenticated, CanManageLists]
    lookup_value_converter = "int"
    queryset = Mailing.objects.all()

    def get_queryset(self) -> QuerySet[Mailing]:
        mailings = Mailing.objects.select_related("target_model").prefetch_related("mailing_lists")
        return mailings.order_by("-created_at", "-id")

    def perform_create(self, serializer: serializers.BaseSerializer[Mailing]) -> None:
        serializer.save(user=self.request.user)

    @extend_schema(request=ScheduleSerializer, responses={200: MailingSerializer})
    @action(detail=True, methods=["post"])
    def send(self, request: Request, pk: int | None = None) -> Response:
        """Queue the campaign now, or for ``schedule_date``. 400 with every reason when it cannot be sent."""
        mailing = self.get_object()
        incoming = ScheduleSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            services.mailing_put_in_queue(mailing=mailing, when=incoming.validated_data.get("schedule_date"))
        except MailingNotReady as exc:
            return Response({"detail": _("The campaign cannot be sent."), "errors": exc.errors}, status=400)
        return Response(MailingSerializer(mailing).data)

    @extend_schema(request=None, responses={200: MailingSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: int | None = None) -> Response:
        """Back to draft (from in queue, paused or failed); 409 when the campaign is not in one of those."""
        mailing = self.get_object()
        if not services.mailing_cancel(mailing=mailing):
            detail = _("A campaign that is %(state)s cannot be cancelled.") % {"state": mailing.get_state_display()}
            return Response({"detail": detail}, status=409)
        return Response(MailingSerializer(mailing).data)

    @extend_schema(
        request=inline_serializer("MailingTest", {"email": serializers.CharField()}),
        responses={202: inline_serializer("MailingTestQueued", {"mail_id": serializers.IntegerField()})},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: int | None = None) -> Response:
        """Send the campaign, as its first recipient would get it, to one address, now."""
        try:
            mail = services.mailing_test_send(mailing=self.get_object(), email=str(request.data.get("email", "")))
        except InvalidEmailError as exc:
            return Response({"email": [str(exc)]}, status=400)
        except MailingNotReady as exc:
            return Response({"detail": _("The campaign cannot be sent."), "errors": exc.errors}, status=400)
        return Response({"mail_id": mail.pk}, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=None, responses={200: inline_serializer("MailingRetry", {"retried": serializers.IntegerField()})}
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: int | None = None) -> Response:
        """Odoo's Retry: the failed recipients become remaining again and the campaign is queued."""
        return Response({"retried": services.mailing_retry_failed(mailing=self.get_object())})

    @extend_schema(request=None, responses={200: MailingSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: int | None = None) -> Response:
        """A campaign paused for its bounces goes back in the queue; 409 when it is not paused."""
        mailing = self.get_object()
        if not mailing_resume(mailing=mailing):
            detail = _("A campaign that is %(state)s cannot be resumed.") % {"state": mailing.get_state_display()}
            return Response({"detail": detail}, status=409)
        return Response(MailingSerializer(mailing).data)

    @extend_schema(request=None, responses={201: MailingSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: int | None = None) -> Response:
        copy = services.mailing_duplicate(mailing=self.get_object(), user=request.user)
        return Response(MailingSerializer(copy).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: StatisticsSerializer})
    @action(detail=True, methods=["get"])
    def statistics(self, request: Request, pk: int | None = None) -> Response:
        """Counts by Odoo's formulas; ``excluded`` by failure type (mail_bl, mail_optout, …)."""
        stats = selectors.mailing_statistics(self.get_object())
        data = {name: getattr(stats, name) for name in (*STATISTICS_COUNTS, *STATISTICS_RATIOS, "excluded")}
        return Response(data)

    @extend_schema(
        request={"multipart/form-data": AttachmentUploadSerializer},
        responses={201: AttachmentSerializer(many=True)},
    )
    @action(detail=True, methods=["post"], parser_classes=[MultiPartParser])
    def attachments(self, request: Request, pk: int | None = None) -> Response:
        """Attach files (``files``, one part each) to a draft campaign: all or none, 400 past the
        size limit of the campaign's attachments together."""
        mailing = self.get_object()
        incoming = AttachmentUploadSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        uploads = [
            UploadedFile(name=f.name or "", content=f.read(), mimetype=f.content_type or "")
            for f in incoming.validated_data["files"]
        ]
        try:
            added = mailing_attachments_add(mailing=mailing, files=uploads)
        except AttachmentsTooLarge as exc:
            return Response({"files": [str(exc)]}, status=400)
        except MailingNotReady as exc:
            return Response({"detail": " ".join(exc.errors)}, status=409)
        return Response(AttachmentSerializer(added, many=True).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path="attachments/<int:attachment_id>")
    def attachment_remove(self, request: Request, pk: int | None = None, attachment_id: int = 0) -> Response:
        """Take a file off a draft campaign; 404 when the campaign has no such attachment."""
        try:
            removed = mailing_attachments_remove(mailing=self.get_object(), attachment_ids=[attachment_id])
        except MailingNotReady as exc:
            return Response({"detail": " ".join(exc.errors)}, status=409)
        if not removed:
            return Response({"detail": _("No such attachment on this campaign.")}, status=404)
        return Response(status=status.HTTP_204_NO_CONTENT)
