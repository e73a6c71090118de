"""JSON API of contacts (Odoo ``res.partner``).

Anyone logged in may list, create and edit contacts, as internal users can in Odoo. Deleting is
not offered: messages, notifications and followers point at contacts; archive them instead
(``active: false``).
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import QueryDict
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets

from mailcore.contacts import contact_email_clean
from mailcore.exceptions import InvalidEmailError, InvalidQueryParameter
from mailcore.models import Partner
from mailcore.params import query_text


def email_validate(value: str) -> str:
    """Accept an empty address (a contact may have none) or one valid address; reject the rest.

    The error's code (DRF ``get_codes()``) is ``mail_email_invalid``, Odoo's failure type for it.
    """
    try:
        return contact_email_clean(value)
    except InvalidEmailError as exc:
        raise serializers.ValidationError(str(exc), code="mail_email_invalid") from exc


class PartnerSerializer(serializers.ModelSerializer[Partner]):
    email = serializers.CharField(
        max_length=255,
        required=False,
        allow_blank=True,
        default="",
        help_text="One address, optionally with a display name: 'Name <a@b.c>'.",
    )

    class Meta:
        model = Partner
        fields = [
            "id",
            "name",
            "email",
            "email_normalized",
            "message_bounce",
            "is_blacklisted",
            "user",
            "notification_type",
            "active",
            "created_at",
        ]
        read_only_fields = ["email_normalized", "message_bounce", "user", "created_at"]

    def validate_email(self, value: str) -> str:
        return email_validate(value)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Part of the name or e-mail."),
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Archived contacts with false; both if unset."),
        ]
    )
)
class PartnerViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet[Partner],
):
    """Contacts: list, create, read and update (archive with ``active: false``)."""

    serializer_class = PartnerSerializer
    queryset = Partner.objects.all()
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Partner]:
        queryset = Partner.objects.order_by("name", "id")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        search = query_text_param(params, "search")
        if search:
            queryset = queryset.filter(Q(name__icontains=search) | Q(email__icontains=search))
        active = params.get("active")
        if active is not None:
            queryset = queryset.filter(active=parse_bool_param("active", active))
        return queryset


def query_text_param(params: QueryDict, name: str) -> str:
    """A query-string text (stripped), or a 400 naming the parameter (a NUL character, for one)."""
    try:
        return query_text(params, name)
    except InvalidQueryParameter as exc:
        raise serializers.ValidationError({name: [str(exc)]}) from exc


def parse_bool_param(name: str, value: str) -> bool:
    """A query-string boolean, or a 400 naming the parameter."""
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes"}:
        return True
    if lowered in {"0", "false", "no"}:
        return False
    raise serializers.ValidationError({name: [_("Expected true or false, got %(value)r.") % {"value": value}]})


class PartnerSummarySerializer(serializers.ModelSerializer[Partner]):
    """The short form of a contact embedded in other resources (authors, recipients, followers)."""

    class Meta:
        model = Partner
        fields = ["id", "name", "email"]
        read_only_fields = fields
