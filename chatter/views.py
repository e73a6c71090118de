"""Record pages: the home page, a list and a detail page (with its chatter) per record type.

Any model inheriting :class:`chatter.thread.MailThread` gets ``/<plural>/`` and
``/<plural>/<id>/``; ``/records/<content type id>/<id>/`` (the link outgoing mail carries) opens
the same page.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import models
from django.forms import modelform_factory
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from chatter import selectors
from chatter.selectors import RecordType
from chatter.thread import MailThread
from chatter.views_chatter import chatter_context, record_detail_url
from mailcore.params import query_text

RECORDS_PER_PAGE = 50


def record_type_or_404(slug: str) -> RecordType:
    record_type = selectors.record_type_for_slug(slug)
    if record_type is None:
        raise Http404("No such record type.")
    return record_type


def record_or_404(record_type: RecordType, pk: int) -> MailThread:
    record = record_type.model._default_manager.filter(pk=pk).first()
    if record is None:
        raise Http404(f"No {record_type.label.lower()} with id {pk}.")
    return record


def _record_form_class(record_type: RecordType) -> type[forms.ModelForm[Any]]:
    editable = [
        f.name
        for f in record_type.model._meta.concrete_fields
        if f.editable and not f.primary_key and not getattr(f, "auto_now_add", False)
    ]
    form_class = modelform_factory(record_type.model, fields=editable)
    for field in form_class.base_fields.values():
        if isinstance(field.widget, forms.Textarea):
            field.widget.attrs["rows"] = 4
    return form_class


def _status_field(record_type: RecordType) -> models.Field[Any, Any] | None:
    """The field shown as Odoo's status bar: a ``stage`` or ``state`` with choices."""
    for name in ("stage", "state"):
        for f in record_type.model._meta.concrete_fields:
            if f.name == name and f.choices:
                return f
    return None


@login_required
@require_GET
def home_view(request: HttpRequest) -> HttpResponse:
    """Overview: each record type with its count and failures, the user's inbox and failures."""
    tiles = []
    for record_type in selectors.record_types():
        qs = selectors.record_list(record_type)
        tiles.append(
            {
                "type": record_type,
                "count": record_type.model._default_manager.count(),
                "with_failures": qs.filter(failure_count__gt=0).count(),
            }
        )
    return render(request, "chatter/home.html", {"tiles": tiles})


@login_required
@require_GET
def record_list_view(request: HttpRequest, slug: str) -> HttpResponse:
    """The records of a type; each row says whether its messages have delivery failures."""
    record_type = record_type_or_404(slug)
    search = query_text(request.GET, "q")
    failures_only = request.GET.get("failures") == "1"
    qs = selectors.record_list(record_type, search=search, failures_only=failures_only)
    page = Paginator(qs, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    fields = selectors.record_list_fields(record_type)
    return render(
        request,
        "chatter/record_list.html",
        {
            "record_type": record_type,
            "page": page,
            "fields": fields,
            "search": search,
            "failures_only": failures_only,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def record_create_view(request: HttpRequest, slug: str) -> HttpResponse:
    record_type = record_type_or_404(slug)
    form_class = _record_form_class(record_type)
    form = form_class(request.POST or None)
    if request.method == "POST" and form.is_valid():
        record = form.save()
        messages.success(request, _("%(type)s created.") % {"type": record_type.label})
        return redirect(record_detail_url(record_type, record.pk))
    return render(request, "chatter/record_form.html", {"record_type": record_type, "form": form})


@login_required
@require_http_methods(["GET", "POST"])
def record_detail_view(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """The record's fields (editable: saving logs tracked changes) beside its chatter."""
    record_type = record_type_or_404(slug)
    record = record_or_404(record_type, pk)
    form_class = _record_form_class(record_type)
    form = form_class(request.POST or None, instance=record)
    if request.method == "POST":
        if form.is_valid():
            if form.has_changed():
                form.save()
                messages.success(request, _("%(type)s saved.") % {"type": record_type.label})
            return redirect(record_detail_url(record_type, record.pk))
        messages.error(request, _("Please correct the errors below."))
    status_field = _status_field(record_type)
    context = {
        "record_type": record_type,
        "record": record,
        "form": form,
        "status_field": status_field,
        "status_value": getattr(record, status_field.name) if status_field else None,
        **chatter_context(request, record_type, record),
    }
    return render(request, "chatter/record_detail.html", context)


@login_required
@require_GET
def record_by_content_type_view(request: HttpRequest, content_type_id: int, pk: int) -> HttpResponse:
    """``/records/<content type>/<id>/``: the link in outgoing mail, redirected to the record page."""
    record_type = selectors.record_type_for_content_type(content_type_id)
    if record_type is None:
        raise Http404("No such record type.")
    return redirect(record_detail_url(record_type, pk))
