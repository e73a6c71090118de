"""The chatter beside a record: composer, message pages, envelopes, the resend dialog, followers.

Each endpoint answers an htmx request with the fragment it changed (the whole chatter, one
envelope, a page of messages) and a plain form post with a redirect to the record, so every
action also works without JavaScript.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import reswap, retarget, trigger_client_event

from chatter import selectors, services
from chatter.models import Attachment, Follower, Message, MessageType
from chatter.selectors import RecordType
from chatter.services import MT_COMMENT, MT_NOTE
from mailcore.contacts import contact_email_clean, contact_find_or_create
from mailcore.exceptions import InvalidEmailError

if TYPE_CHECKING:
    from chatter.thread import MailThread

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


# --- shared -------------------------------------------------------------------------------------
def _record_from_ids(content_type_id: int, pk: int) -> tuple[RecordType, MailThread]:
    record_type = selectors.record_type_for_content_type(content_type_id)
    if record_type is None:
        raise Http404("No such record type.")
    record = record_type.model._default_manager.filter(pk=pk).first()
    if record is None:
        raise Http404("No such record.")
    return record_type, record


def record_detail_url(record_type: RecordType, pk: int) -> str:
    return reverse("chatter:record_detail", args=[record_type.slug, pk])


def chatter_context(
    request: HttpRequest, record_type: RecordType, record: MailThread, *, followers_open: bool = False
) -> dict[str, Any]:
    """Everything the chatter partial shows, in a fixed number of queries."""
    content_type = record_type.content_type
    partner = request.partner  # type: ignore[attr-defined]
    followers = selectors.followers_of(content_type=content_type, res_id=record.pk)
    subtypes = selectors.subtypes_for(content_type)
    by_code = {s.code: s for s in subtypes}
    comment, note = by_code.get(MT_COMMENT), by_code.get(MT_NOTE)
    page = selectors.message_page(content_type=content_type, res_id=record.pk)
    follower_ids = [f.partner_id for f in followers]
    return {
        "record_type": record_type,
        "record": record,
        "content_type_id": content_type.pk,
        "page": page,
        "followers": followers,
        "followers_open": followers_open,
        "subtypes": subtypes,
        "my_follower": next((f for f in followers if f.partner_id == partner.pk), None),
        "recipients_message": selectors.recipients_preview(
            followers=followers, subtype_id=comment.pk if comment else 0, author=partner
        ),
        "recipients_note": selectors.recipients_preview(
            followers=followers, subtype_id=note.pk if note else 0, author=partner
        ),
        "partner_choices": selectors.partners_for_picker(exclude_ids=follower_ids),
    }


def _chatter_response(
    request: HttpRequest,
    record_type: RecordType,
    record: MailThread,
    *,
    followers_open: bool = False,
    error: str = "",
) -> HttpResponse:
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(record_detail_url(record_type, record.pk))
    context = chatter_context(request, record_type, record, followers_open=followers_open)
    context["error"] = error
    return render(request, "chatter/partials/chatter.html", context)


# --- composer and messages ----------------------------------------------------------------------
@login_required
@require_POST
def message_post_view(request: HttpRequest, content_type_id: int, pk: int) -> HttpResponse:
    """The composer: "Send message" (``mt_comment``, notifies followers) or "Log note" (``mt_note``)."""
    record_type, record = _record_from_ids(content_type_id, pk)
    mode = request.POST.get("mode", "message")
    if mode not in {"message", "note"}:
        return HttpResponseBadRequest(_("Unknown composer mode."))
    body = request.POST.get("body", "").strip()
    files = request.FILES.getlist("attachments")
    if any(f.size is not None and f.size > MAX_ATTACHMENT_BYTES for f in files):
        return _chatter_response(request, record_type, record, error=_("Attachments are limited to 25 MB each."))
    if not body and not files:
        return _chatter_response(request, record_type, record, error=_("Write something or attach a file first."))
    services.message_post(
        record=record,
        body=body,
        body_is_html=False,
        message_type=MessageType.COMMENT,
        subtype=MT_COMMENT if mode == "message" else MT_NOTE,
        attachments=[(f.name or "attachment", f.read(), f.content_type or "") for f in files],
    )
    return _chatter_response(request, record_type, record)


@login_required
@require_GET
def message_page_view(request: HttpRequest, content_type_id: int, pk: int) -> HttpResponse:
    """A page of messages older than ``before`` (htmx "Load older messages"); the newest without it."""
    record_type, record = _record_from_ids(content_type_id, pk)
    try:
        before = int(request.GET["before"]) if request.GET.get("before") else None
    except ValueError:
        return HttpResponseBadRequest(_("Invalid 'before'."))
    page = selectors.message_page(content_type=record_type.content_type, res_id=record.pk, before=before)
    return render(
        request,
        "chatter/partials/messages_page.html",
        {"page": page, "record": record, "content_type_id": content_type_id},
    )


@login_required
@require_GET
def attachment_download_view(request: HttpRequest, attachment_id: int) -> HttpResponse:
    try:
        attachment = selectors.attachment_get(attachment_id)
    except Attachment.DoesNotExist as exc:
        raise Http404("No such attachment.") from exc
    response = HttpResponse(bytes(attachment.datas), content_type=attachment.mimetype or "application/octet-stream")
    # Always a download: an uploaded HTML or SVG file must never run in our origin.
    response["Content-Disposition"] = _content_disposition(attachment.name)
    return response


def _content_disposition(filename: str) -> str:
    from urllib.parse import quote

    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "'").replace("\\", "_") or "attachment"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


# --- envelope and resend dialog -----------------------------------------------------------------
def _message_or_404(message_id: int) -> Message:
    try:
        return selectors.message_with_envelope(message_id)
    except Message.DoesNotExist as exc:
        raise Http404("No such message.") from exc


@login_required
@require_GET
def envelope_view(request: HttpRequest, message_id: int) -> HttpResponse:
    """One message's envelope (polled while pending)."""
    message = _message_or_404(message_id)
    return render(request, "chatter/partials/envelope.html", {"m": message})


@login_required
@require_http_methods(["GET", "POST"])
def resend_view(request: HttpRequest, message_id: int) -> HttpResponse:
    """Odoo's resend wizard (``mail.resend.message``): Send & close, or Ignore all.

    Each failed recipient has a "Try Again" toggle (on by default) and an editable address;
    a changed address updates the contact before the resend.
    """
    message = _message_or_404(message_id)
    lines = selectors.failed_notifications(message)
    if request.method == "GET":
        return render(request, "chatter/partials/resend_dialog.html", {"m": message, "lines": lines})

    action = request.POST.get("action")
    if action == "ignore":
        services.message_cancel_failures(message=message)
    elif action == "send":
        retry_ids: list[int] = []
        email_updates: dict[int, str] = {}
        errors: dict[int, str] = {}
        for line in lines:
            partner = line.res_partner
            if request.POST.get(f"retry_{partner.pk}"):
                retry_ids.append(partner.pk)
            email = request.POST.get(f"email_{partner.pk}", partner.email).strip()
            if email != partner.email:
                try:
                    email_updates[partner.pk] = contact_email_clean(email, required=True)
                except InvalidEmailError:
                    errors[partner.pk] = _("This e-mail address is not valid.")
        if errors:
            response = render(
                request,
                "chatter/partials/resend_dialog.html",
                {"m": message, "lines": lines, "errors": errors, "posted": request.POST},
            )
            return reswap(retarget(response, "#modal-content"), "innerHTML")
        services.message_resend(message=message, retry_partner_ids=retry_ids, email_updates=email_updates)
    else:
        return HttpResponseBadRequest(_("Unknown action."))

    if not request.htmx:  # type: ignore[attr-defined]
        return redirect(request.POST.get("next") or reverse("chatter:failures"))
    response = render(request, "chatter/partials/envelope.html", {"m": _message_or_404(message_id)})
    return trigger_client_event(response, "closeModal")


# --- followers ----------------------------------------------------------------------------------
@login_required
@require_POST
def followers_view(request: HttpRequest, content_type_id: int, pk: int) -> HttpResponse:
    """Follow, unfollow, or add a follower (a contact picked or typed as "Name <address>")."""
    record_type, record = _record_from_ids(content_type_id, pk)
    partner = request.partner  # type: ignore[attr-defined]
    action = request.POST.get("action")
    error = ""
    if action == "follow":
        services.message_subscribe(record=record, partners=[partner])
    elif action == "unfollow":
        services.message_unsubscribe(record=record, partners=[partner])
    elif action == "add":
        try:
            new = contact_find_or_create(text=request.POST.get("partner", ""))
        except InvalidEmailError:
            error = _("Pick a contact or type an address like: Jane Doe <jane@example.com>")
        else:
            services.message_subscribe(record=record, partners=[new])
    else:
        return HttpResponseBadRequest(_("Unknown action."))
    return _chatter_response(request, record_type, record, followers_open=action == "add", error=error)


def _follower_or_404(record_type: RecordType, record: MailThread, follower_id: int) -> Follower:
    try:
        return selectors.follower_get(follower_id=follower_id, content_type=record_type.content_type, res_id=record.pk)
    except Follower.DoesNotExist as exc:
        raise Http404("No such follower.") from exc


@login_required
@require_POST
def follower_remove_view(request: HttpRequest, content_type_id: int, pk: int, follower_id: int) -> HttpResponse:
    record_type, record = _record_from_ids(content_type_id, pk)
    follower = _follower_or_404(record_type, record, follower_id)
    services.message_unsubscribe(record=record, partners=[follower.partner])
    return _chatter_response(request, record_type, record, followers_open=True)


@login_required
@require_POST
def follower_subtypes_view(request: HttpRequest, content_type_id: int, pk: int, follower_id: int) -> HttpResponse:
    """Choose which subtypes (Discussions, Note, Stage Changed …) a follower is notified of."""
    record_type, record = _record_from_ids(content_type_id, pk)
    follower = _follower_or_404(record_type, record, follower_id)
    allowed = {s.pk for s in selectors.subtypes_for(record_type.content_type)}
    try:
        chosen = {int(v) for v in request.POST.getlist("subtypes")}
    except ValueError:
        return HttpResponseBadRequest(_("Invalid subtype."))
    if not chosen <= allowed:
        return HttpResponseBadRequest(_("Invalid subtype."))
    services.follower_set_subtypes(follower=follower, subtype_ids=sorted(chosen))
    return _chatter_response(request, record_type, record, followers_open=True)
