"""JSON API of the chatter: a view set base that gives any thread model its chatter endpoints.

An app exposes a :class:`~chatter.thread.MailThread` model by subclassing
:class:`ThreadRecordViewSet` (and :class:`ThreadRecordSerializer`); every record then has::

    GET  <records>/                        list (with message_has_error, filterable)
    POST <records>/                        create          GET/PUT/PATCH <records>/<id>/
    GET  <records>/<id>/messages/          the chatter, newest first, with per-recipient status
    POST <records>/<id>/message_post/      send a message (mt_comment) or log a note (mt_note)
    POST <records>/<id>/follow/            follow (the caller's contact, or partner_id)
    POST <records>/<id>/unfollow/
    GET  <records>/<id>/followers/         followers with their subtypes
    PUT  <records>/<id>/followers/<fid>/   choose a follower's subtypes
    GET  <records>/subtypes/               subtypes a follower of this model can choose

Views parse input, call one chatter service, and format output. Listing queries do
not grow with the number of records, messages or followers: annotations and prefetches only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Exists, Prefetch, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from chatter import selectors, services
from chatter.context import acting_as
from chatter.exceptions import ChatterError
from chatter.models import (
    Attachment,
    Follower,
    Message,
    MessageSubtype,
    MessageType,
    Notification,
    TrackingValue,
)
from chatter.thread import MailThread
from chatter.ui_services import partner_for_user
from mailcore.api import PartnerSummarySerializer, parse_bool_param
from mailcore.models import Partner

POST_KIND_SUBTYPES = {"message": services.MT_COMMENT, "note": services.MT_NOTE}


class InvalidRequest(APIException):
    """A 400 whose body is ``{"detail": "<why>"}``: input that no single field explains."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = gettext_lazy("Invalid request.")
    default_code = "invalid"


# --- queries --------------------------------------------------------------------------------------
def thread_annotate_has_error(queryset: QuerySet[Any]) -> QuerySet[Any]:
    """Annotate thread records with ``message_has_error``: a message with a failed notification.

    Odoo's counter only counts messages the current user authored; ours shows any failure on the
    record, because failures must reach everyone who can act on them. One
    ``EXISTS`` subquery per row, so a list costs the same number of queries at any size.
    """
    failed = selectors.failed_notifications_of_record(ContentType.objects.get_for_model(queryset.model))
    return queryset.annotate(message_has_error=Exists(failed))


def thread_messages(record: models.Model) -> QuerySet[Message]:
    """The chatter of ``record``, newest first, with everything the API shows prefetched."""
    content_type = ContentType.objects.get_for_model(record)
    return (
        Message.objects.filter(model=content_type, res_id=record.pk)
        .select_related("author", "subtype")
        .prefetch_related(
            # File contents stay in the database: the listing shows names and sizes only.
            Prefetch("attachments", queryset=Attachment.objects.defer("datas").order_by("id")),
            Prefetch("tracking_values", queryset=TrackingValue.objects.order_by("sequence", "id")),
            Prefetch("notifications", queryset=Notification.objects.select_related("res_partner").order_by("id")),
        )
        .order_by("-date", "-id")
    )


def thread_followers(record: models.Model) -> QuerySet[Follower]:
    """The followers of ``record`` with their contacts and subtypes prefetched."""
    content_type = ContentType.objects.get_for_model(record)
    return (
        Follower.objects.filter(model=content_type, res_id=record.pk)
        .select_related("partner")
        .prefetch_related(Prefetch("subtypes", queryset=MessageSubtype.objects.order_by("sequence", "id")))
        .order_by("partner__name", "id")
    )


def thread_subtypes(model: type[models.Model]) -> QuerySet[MessageSubtype]:
    """Subtypes a follower of ``model`` may choose: the generic ones and the model's own."""
    return selectors.subtypes_queryset(ContentType.objects.get_for_model(model))


# --- output serializers ---------------------------------------------------------------------------
class SubtypeSerializer(serializers.ModelSerializer[MessageSubtype]):
    class Meta:
        model = MessageSubtype
        fields = ["id", "code", "name", "description", "internal", "default"]
        read_only_fields = fields


class SubtypeSummarySerializer(serializers.ModelSerializer[MessageSubtype]):
    class Meta:
        model = MessageSubtype
        fields = ["id", "code", "name"]
        read_only_fields = fields


class AttachmentSerializer(serializers.ModelSerializer[Attachment]):
    class Meta:
        model = Attachment
        fields = ["id", "name", "mimetype", "file_size"]
        read_only_fields = fields


class TrackingValueSerializer(serializers.ModelSerializer[TrackingValue]):
    field = serializers.CharField(source="field_name", read_only=True)
    old_value = serializers.CharField(source="old_value_char", read_only=True)
    new_value = serializers.CharField(source="new_value_char", read_only=True)

    class Meta:
        model = TrackingValue
        fields = ["id", "field", "field_desc", "field_type", "old_value", "new_value"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    """One recipient of a message and what happened to it (Odoo ``mail.notification``)."""

    partner = PartnerSummarySerializer(source="res_partner", read_only=True)
    email = serializers.CharField(source="res_partner.email", read_only=True)
    failure_summary = serializers.CharField(
        read_only=True,
        help_text="One line from the SMTP answer (stage, code, enhanced status, text), else the failure type.",
    )

    class Meta:
        model = Notification
        fields = [
            "id",
            "partner",
            "email",
            "notification_type",
            "notification_status",
            "failure_type",
            "failure_reason",
            "failure_summary",
            "is_read",
        ]
        read_only_fields = fields


class MessageSerializer(serializers.ModelSerializer[Message]):
    author = PartnerSummarySerializer(read_only=True)
    subtype = SubtypeSummarySerializer(read_only=True)
    attachments = AttachmentSerializer(many=True, read_only=True)
    tracking_values = TrackingValueSerializer(many=True, read_only=True)
    notifications = NotificationSerializer(many=True, read_only=True)
    has_error = serializers.SerializerMethodField(
        help_text="A notification of this message failed (bounce or exception): Odoo's red envelope."
    )

    class Meta:
        model = Message
        fields = [
            "id",
            "date",
            "message_type",
            "subtype",
            "is_internal",
            "author",
            "email_from",
            "reply_to",
            "subject",
            "body",
            "message_id",
            "parent",
            "attachments",
            "tracking_values",
            "notifications",
            "has_error",
        ]
        read_only_fields = fields

    def get_has_error(self, message: Message) -> bool:
        # Reads the prefetched notifications: no query per message.
        return any(n.is_failed for n in message.notifications.all())


class FollowerSerializer(serializers.ModelSerializer[Follower]):
    partner = PartnerSummarySerializer(read_only=True)
    subtypes = SubtypeSummarySerializer(many=True, read_only=True)

    class Meta:
        model = Follower
        fields = ["id", "partner", "subtypes"]
        read_only_fields = fields


class ThreadRecordSerializer(serializers.ModelSerializer[Any]):
    """Base of the serializers of thread records: adds the red-envelope flag of the record."""

    message_has_error = serializers.SerializerMethodField(
        help_text="Some message of this record has a failed notification (bounce or exception)."
    )

    def get_message_has_error(self, record: MailThread) -> bool:
        # Annotated by the view set's queryset; a record created just now has no failure yet.
        return bool(getattr(record, "message_has_error", False))


# --- input serializers ----------------------------------------------------------------------------
@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.Field[bytes, str, str, Any]):
    """Bytes carried as standard base64 text."""

    default_error_messages = {"invalid": gettext_lazy("Not valid base64 content.")}

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            self.fail("invalid")

    def to_representation(self, value: bytes) -> str:
        return base64.b64encode(value).decode()


class AttachmentInputSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(max_length=255)
    content = Base64Field(help_text="The file, base64-encoded.")
    mimetype = serializers.CharField(max_length=255, required=False, default="application/octet-stream")


class _SubtypeCodeField(serializers.SlugRelatedField[MessageSubtype]):
    default_error_messages = {
        "does_not_exist": gettext_lazy("Unknown subtype {value!r}."),
        "invalid": gettext_lazy("A subtype code is a string such as 'mt_comment' (without NUL characters)."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="code", queryset=MessageSubtype.objects.all(), **kwargs)

    def to_internal_value(self, data: Any) -> MessageSubtype:
        # Checked before the query: PostgreSQL refuses a NUL character in text (a server error).
        if not isinstance(data, str) or "\x00" in data:
            self.fail("invalid")
        try:
            return MessageSubtype.objects.get(code=data)
        except MessageSubtype.DoesNotExist:
            self.fail("does_not_exist", value=data)
        except (TypeError, ValueError):
            self.fail("invalid")


class _PartnerIdField(serializers.PrimaryKeyRelatedField[Partner]):
    default_error_messages = {"does_not_exist": gettext_lazy("Unknown contact id {pk_value}.")}


class MessagePostSerializer(serializers.Serializer[Any]):
    kind = serializers.ChoiceField(
        choices=[("message", "Send message"), ("note", "Log note")],
        help_text="'message' notifies the followers of Discussions (mt_comment); "
        "'note' is internal (mt_note) and notifies only partner_ids.",
    )
    body = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False, help_text="HTML; sanitised."
    )
    subject = serializers.CharField(max_length=998, required=False, allow_blank=True, default="")
    partner_ids = serializers.ListField(
        child=_PartnerIdField(queryset=Partner.objects.filter(active=True)),
        required=False,
        default=list,
        help_text="Contacts to notify besides the followers.",
    )
    attachments = AttachmentInputSerializer(many=True, required=False, default=list)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["body"].strip() and not attrs["attachments"]:
            raise serializers.ValidationError(
                {"body": [_("The message is empty: write a body or attach a file.")]}, code="empty"
            )
        return attrs


class FollowSerializer(serializers.Serializer[Any]):
    partner_id = _PartnerIdField(
        queryset=Partner.objects.all(), required=False, help_text="Default: the caller's own contact."
    )
    subtypes = serializers.ListField(
        child=_SubtypeCodeField(),
        required=False,
        help_text="Subtype codes; default: the model's default subtypes (existing followers keep theirs).",
    )


class UnfollowSerializer(serializers.Serializer[Any]):
    partner_id = _PartnerIdField(
        queryset=Partner.objects.all(), required=False, help_text="Default: the caller's own contact."
    )


class FollowerSubtypesSerializer(serializers.Serializer[Any]):
    subtypes = serializers.ListField(
        child=_SubtypeCodeField(), allow_empty=True, help_text="Subtype codes, e.g. ['mt_comment']."
    )


# --- the view set ---------------------------------------------------------------------------------
_RECORD_LIST_PARAMETERS = [
    OpenApiParameter(
        "message_has_error", OpenApiTypes.BOOL, description="Only records with (true) or without (false) failures."
    ),
]
_FOLLOWER_ID = OpenApiParameter("follower_id", OpenApiTypes.INT, OpenApiParameter.PATH)


@extend_schema_view(list=extend_schema(parameters=_RECORD_LIST_PARAMETERS))
class ThreadRecordViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Records of a thread model with their chatter. Subclasses set ``queryset`` and ``serializer_class``."""

    lookup_value_converter = "int"

    @property
    def thread_model(self) -> type[models.Model]:
        assert self.queryset is not None, f"{type(self).__name__} must set queryset"
        return self.queryset.model

    def get_queryset(self) -> QuerySet[Any]:
        queryset = thread_annotate_has_error(super().get_queryset())
        if self.action == "list":
            has_error = self.request.query_params.get("message_has_error")
            if has_error is not None:
                queryset = queryset.filter(message_has_error=parse_bool_param("message_has_error", has_error))
        return queryset

    @contextmanager
    def _acting(self) -> Iterator[Partner]:
        """Author tracking and messages of this request as the caller's contact."""
        partner = partner_for_user(self.request.user)  # type: ignore[arg-type]
        with acting_as(partner):
            yield partner

    def perform_create(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with self._acting():
            serializer.save()

    def perform_update(self, serializer: serializers.BaseSerializer[Any]) -> None:
        with self._acting():
            serializer.save()

    def _paginated(self, queryset: QuerySet[Any], serializer_class: type[serializers.BaseSerializer[Any]]) -> Response:
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(serializer_class(queryset, many=True).data)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    # --- chatter ------------------------------------------------------------------------------
    @extend_schema(
        summary="Messages of the record",
        description="Newest first: author, subtype, body, attachments, tracking values and, per recipient, "
        "the notification status and failure reason.",
        responses=MessageSerializer(many=True),
    )
    @action(detail=True, methods=["get"], filter_backends=[])
    def messages(self, request: Request, pk: int | None = None) -> Response:
        return self._paginated(thread_messages(self.get_object()), MessageSerializer)

    @extend_schema(
        summary="Post a message or log a note",
        request=MessagePostSerializer,
        responses={201: MessageSerializer, 400: OpenApiResponse(description="Invalid input, with the reason.")},
    )
    @action(detail=True, methods=["post"])
    def message_post(self, request: Request, pk: int | None = None) -> Response:
        record = self.get_object()
        serializer = MessagePostSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with self._acting() as author:
            try:
                message = services.message_post(
                    record=record,
                    body=data["body"],
                    subject=data["subject"],
                    message_type=MessageType.COMMENT,
                    subtype=POST_KIND_SUBTYPES[data["kind"]],
                    author=author,
                    partner_ids=[partner.pk for partner in data["partner_ids"]],
                    attachments=[(a["name"], a["content"], a["mimetype"]) for a in data["attachments"]],
                )
            except ChatterError as exc:
                raise InvalidRequest(str(exc)) from exc
        message = thread_messages(record).get(pk=message.pk)
        return Response(MessageSerializer(message).data, status=status.HTTP_201_CREATED)

    # --- followers ----------------------------------------------------------------------------
    def _partner_or_caller(self, partner: Partner | None) -> Partner:
        if partner is not None:
            return partner
        return partner_for_user(self.request.user)  # type: ignore[arg-type]

    def _check_subtypes(self, subtypes: list[MessageSubtype]) -> None:
        allowed = set(thread_subtypes(self.thread_model).values_list("pk", flat=True))
        wrong = [s.code for s in subtypes if s.pk not in allowed]
        if wrong:
            raise serializers.ValidationError(
                {"subtypes": [_("Subtype %(code)r does not apply to this model.") % {"code": code} for code in wrong]}
            )

    @extend_schema(summary="Follow the record", request=FollowSerializer, responses=FollowerSerializer)
    @action(detail=True, methods=["post"])
    def follow(self, request: Request, pk: int | None = None) -> Response:
        record = self.get_object()
        serializer = FollowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subtypes: list[MessageSubtype] | None = serializer.validated_data.get("subtypes")
        if subtypes is not None:
            self._check_subtypes(subtypes)
        partner = self._partner_or_caller(serializer.validated_data.get("partner_id"))
        services.message_subscribe(
            record=record,
            partners=[partner],
            subtype_codes=[s.code for s in subtypes] if subtypes is not None else None,
        )
        follower = thread_followers(record).get(partner=partner)
        return Response(FollowerSerializer(follower).data)

    @extend_schema(
        summary="Stop following the record",
        request=UnfollowSerializer,
        responses=inline_serializer("UnfollowResult", {"removed": serializers.IntegerField()}),
    )
    @action(detail=True, methods=["post"])
    def unfollow(self, request: Request, pk: int | None = None) -> Response:
        record = self.get_object()
        serializer = UnfollowSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        partner = self._partner_or_caller(serializer.validated_data.get("partner_id"))
        removed = services.message_unsubscribe(record=record, partners=[partner])
        return Response({"removed": removed})

    @extend_schema(summary="Followers of the record", responses=FollowerSerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[])
    def followers(self, request: Request, pk: int | None = None) -> Response:
        return self._paginated(thread_followers(self.get_object()), FollowerSerializer)

    @extend_schema(
        summary="Choose a follower's subtypes",
        parameters=[_FOLLOWER_ID],
        request=FollowerSubtypesSerializer,
        responses=FollowerSerializer,
    )
    @action(detail=True, methods=["put"], url_path="followers/<int:follower_id>", url_name="follower")
    def follower_subtypes(self, request: Request, pk: int, follower_id: int) -> Response:
        record = self.get_object()
        follower = thread_followers(record).filter(pk=follower_id).first()
        if follower is None:
            raise NotFound(_("This record has no follower with that id."))
        serializer = FollowerSubtypesSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subtypes: list[MessageSubtype] = serializer.validated_data["subtypes"]
        self._check_subtypes(subtypes)
        services.follower_set_subtypes(follower=follower, subtype_ids=[s.pk for s in subtypes])
        follower = thread_followers(record).get(pk=follower.pk)
        return Response(FollowerSerializer(follower).data)

    @extend_schema(summary="Subtypes a follower of this model can choose", responses=SubtypeSerializer(many=True))
    @action(detail=False, methods=["get"], pagination_class=None, filter_backends=[])
    def subtypes(self, request: Request) -> Response:
        return Response(SubtypeSerializer(thread_subtypes(self.thread_model), many=True).data)
