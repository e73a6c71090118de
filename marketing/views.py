"""Pages of e-mail marketing: mailing lists, their members, a contact's subscriptions, the CSV import.

Views parse input, call one service or selector and format the result. Managing lists needs the
``marketing.change_mailinglist`` permission (Odoo's "Email Marketing / User" group).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.contrib.contenttypes.models import ContentType
from django.core.paginator import Paginator
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_POST

from mailcore.contacts import contact_email_clean
from mailcore.exceptions import InvalidEmailError
from mailcore.models import Partner
from mailcore.registry import alias_target_models
from marketing import selectors, services
from marketing.attachments import (
    UploadedFile,
    mailing_attachments,
    mailing_attachments_add,
    mailing_attachments_remove,
)
from marketing.exceptions import AttachmentsTooLarge, ContactImportError, MailingNotReady
from marketing.forecast import sending_forecast
from marketing.models import Mailing, MailingList, MailingState, MailingSubscription, TraceFailure, TraceStatus
from marketing.queue import mailing_resume
from marketing.recipients import recipient_forecast

MEMBERS_PER_PAGE = 50
View = Callable[..., HttpResponse]
PERMISSION = "marketing.change_mailinglist"


def marketing_required(view: View) -> View:
    """Logged in (else the login page), with the permission to manage mailing lists (else 403)."""
    return login_required(permission_required(PERMISSION, raise_exception=True)(view))


class MailingListForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = MailingList
        fields = ["name", "is_public"]
        labels = {
            "name": gettext_lazy("List name"),
            "is_public": gettext_lazy("Show in the subscription preferences page"),
        }

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()


class AddMemberForm(forms.Form):
    email = forms.CharField(label=gettext_lazy("E-mail"), max_length=255)
    name = forms.CharField(label=gettext_lazy("Name"), max_length=255, required=False)

    def clean_email(self) -> str:
        try:
            return contact_email_clean(str(self.cleaned_data["email"]), required=True)
        except InvalidEmailError as exc:
            raise forms.ValidationError(str(exc)) from exc


class ImportForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("CSV file"),
        help_text=gettext_lazy("UTF-8, with a first line naming the columns: name, email, list."),
    )
    mailing_list = forms.ModelChoiceField(
        label=gettext_lazy("Add to list"),
        queryset=MailingList.objects.filter(active=True),
        required=False,
        help_text=gettext_lazy("For lines whose 'list' column is empty, or when the file has no such column."),
    )


@marketing_required
def mailing_list_index_view(request: HttpRequest) -> HttpResponse:
    """Mailing lists with their counters, and a form to create one."""
    form = MailingListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = services.mailing_list_create(name=form.cleaned_data["name"], is_public=form.cleaned_data["is_public"])
        messages.success(request, _("Mailing list “%(name)s” created.") % {"name": created.name})
        return redirect("marketing:list_detail", pk=created.pk)
    lists = [(ml, selectors.list_counts(ml)) for ml in selectors.mailing_lists_with_counts()]
    return render(request, "marketing/list_index.html", {"lists": lists, "form": form})


@marketing_required
def mailing_list_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One list: its counters, its members (searchable, paginated), a form to add a member."""
    mailing_list = get_object_or_404(MailingList, pk=pk)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        contact, result = services.member_add(
            mailing_list=mailing_list, email=form.cleaned_data["email"], name=form.cleaned_data["name"]
        )
        if result.added:
            messages.success(
                request,
                _("%(contact)s added to “%(list)s”.") % {"contact": contact.email_formatted, "list": mailing_list.name},
            )
        elif result.kept_opted_out:
            messages.warning(
                request,
                _("%(contact)s opted out of “%(list)s” and stays opted out.")
                % {"contact": contact.email_formatted, "list": mailing_list.name},
            )
        else:
            messages.info(
                request,
                _("%(contact)s is already in “%(list)s”.")
                % {"contact": contact.email_formatted, "list": mailing_list.name},
            )
        return redirect("marketing:list_detail", pk=mailing_list.pk)
    search = request.GET.get("q", "").strip()
    page = Paginator(selectors.list_members(mailing_list=mailing_list, search=search), MEMBERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    context = {
        "mailing_list": mailing_list,
        "counts": selectors.list_counts(mailing_list),
        "page": page,
        "search": search,
        "form": form,
    }
    return render(request, "marketing/list_detail.html", context)


@marketing_required
@require_POST
def subscription_opt_out_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Opt a member out of the list, or back in (``opt_out`` = 1 or 0)."""
    subscription = get_object_or_404(MailingSubscription.objects.select_related("contact", "mailing_list"), pk=pk)
    opt_out = request.POST.get("opt_out") == "1"
    if services.subscription_set_opt_out(subscription=subscription, opt_out=opt_out):
        names = {"contact": subscription.contact.name, "list": subscription.mailing_list.name}
        if opt_out:
            messages.success(request, _("%(contact)s opted out of “%(list)s”.") % names)
        else:
            messages.success(request, _("%(contact)s opted back into “%(list)s”.") % names)
    return redirect(request.POST.get("next") or "marketing:list_detail", pk=subscription.mailing_list_id)


@marketing_required
@require_POST
def subscription_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a member off the list."""
    subscription = get_object_or_404(MailingSubscription.objects.select_related("contact", "mailing_list"), pk=pk)
    list_id = subscription.mailing_list_id
    services.subscription_remove(subscription=subscription)
    messages.success(
        request,
        _("%(contact)s removed from “%(list)s”.")
        % {"contact": subscription.contact.name, "list": subscription.mailing_list.name},
    )
    return redirect("marketing:list_detail", pk=list_id)


@marketing_required
def contact_subscriptions_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Every list one contact belongs to, with the opt-out state of each."""
    contact = get_object_or_404(Partner, pk=pk)
    return render(
        request,
        "marketing/contact_subscriptions.html",
        {"contact": contact, "subscriptions": selectors.contact_subscriptions(contact)},
    )


@marketing_required
def contact_import_view(request: HttpRequest) -> HttpResponse:
    """Import contacts from CSV: every bad line is listed with its reason, and nothing is written."""
    form = ImportForm(request.POST or None, request.FILES or None, initial={"mailing_list": request.GET.get("list")})
    errors = []
    if request.method == "POST" and form.is_valid():
        try:
            result = services.contacts_import_csv(
                data=form.cleaned_data["file"].read(), default_list=form.cleaned_data["mailing_list"]
            )
        except ContactImportError as exc:
            errors = exc.errors
        else:
            summary = _(
                "%(lines)s: %(created)s, %(existing)s already known; "
                "%(added)s added to %(lists)s, %(already)s already there."
            ) % {
                "lines": ngettext("Imported %(n)d line", "Imported %(n)d lines", result.rows) % {"n": result.rows},
                "created": ngettext("%(n)d new contact", "%(n)d new contacts", result.contacts_created)
                % {"n": result.contacts_created},
                "existing": result.contacts_existing,
                "added": result.subscriptions_added,
                "lists": ", ".join(result.lists),
                "already": result.subscriptions_already,
            }
            messages.success(request, summary)
            if result.kept_opted_out:
                messages.warning(
                    request,
                    ngettext(
                        "%(n)d had opted out and stay opted out.",
                        "%(n)d had opted out and stay opted out.",
                        result.kept_opted_out,
                    )
                    % {"n": result.kept_opted_out},
                )
            if result.blacklisted:
                messages.warning(
                    request,
                    ngettext(
                        "%(n)d are blacklisted and will not be mailed.",
                        "%(n)d are blacklisted and will not be mailed.",
                        result.blacklisted,
                    )
                    % {"n": result.blacklisted},
                )
            return redirect("marketing:lists")
    return render(request, "marketing/import.html", {"form": form, "errors": errors})


# --- campaigns -------------------------------------------------------------------------------------
class MailingForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Mailing
        fields = [
            "subject",
            "preview",
            "email_from",
            "reply_to_mode",
            "reply_to",
            "mailing_lists",
            "target_model",
            "target_filter",
            "body_html",
            "mail_server",
            "track_opens",
            "track_clicks",
        ]
        labels = {
            "mailing_lists": gettext_lazy("Mailing lists"),
            "target_model": gettext_lazy("Or: records of"),
            "target_filter": gettext_lazy("Matching"),
            "mail_server": gettext_lazy("Dedicated server"),
            "track_opens": gettext_lazy("Count opens (a tracking image)"),
            "track_clicks": gettext_lazy("Count clicks (links go through this site)"),
        }
        widgets = {
            "mailing_lists": forms.CheckboxSelectMultiple,
            "reply_to_mode": forms.RadioSelect,
            "body_html": forms.Textarea(attrs={"rows": 14, "class": "mono"}),
        }
        help_texts = {
            "body_html": gettext_lazy(
                'HTML. Placeholders: {{ contact.name }}, {{ contact.first_name|default:"friend" }}, '
                "{{ contact.email }}, {{ unsubscribe.url }}, {{ preferences.url }}."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mailing_lists"].queryset = MailingList.objects.filter(active=True)  # type: ignore[attr-defined]
        targets = ContentType.objects.get_for_models(
            *[m for m in alias_target_models() if getattr(m, "mail_partner_field", None)]
        ).values()
        self.fields["target_model"].queryset = ContentType.objects.filter(  # type: ignore[attr-defined]
            pk__in=[ct.pk for ct in targets]
        )
        self.fields["target_model"].label_from_instance = lambda ct: str(ct.name).capitalize()  # type: ignore[attr-defined]


class MailingVariantsForm(forms.Form):
    """The campaign's text in each other language, one tab per language (all optional)."""

    FIELDS = ("subject", "preview", "body_html")

    def __init__(self, *args: Any, mailing: Mailing | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        existing = {v.lang: v for v in mailing.translations.all()} if mailing is not None else {}
        self.langs = [(code, name) for code, name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]
        for code, _name in self.langs:
            variant = existing.get(code)
            self.fields[f"{code}-subject"] = forms.CharField(
                label=gettext_lazy("Subject"), max_length=998, required=False
            )
            self.fields[f"{code}-preview"] = forms.CharField(
                label=gettext_lazy("Preview"), max_length=255, required=False
            )
            self.fields[f"{code}-body_html"] = forms.CharField(
                label=gettext_lazy("Body"),
                required=False,
                widget=forms.Textarea(attrs={"rows": 14, "class": "mono"}),
            )
            for field in self.FIELDS:
                self.initial[f"{code}-{field}"] = getattr(variant, field, "")
        # Variants in a language the form does not show (made through the API) are kept as they are.
        self.kept = [
            {"lang": v.lang, **{f: getattr(v, f) for f in self.FIELDS}}
            for code, v in existing.items()
            if code not in dict(self.langs)
        ]

    def tabs(self) -> list[tuple[str, str, list[forms.BoundField], bool]]:
        """(language, its name, its fields, shown first): the first tab with an error, else the first."""
        tabs = [(code, str(name), [self[f"{code}-{f}"] for f in self.FIELDS]) for code, name in self.langs]
        wrong = [code for code, _name, fields in tabs if any(field.errors for field in fields)]
        shown = wrong[0] if wrong else (tabs[0][0] if tabs else "")
        return [(code, name, fields, code == shown) for code, name, fields in tabs]

    def variants(self) -> list[dict[str, str]]:
        """Every language with some text (an emptied tab removes its variant)."""
        filled = [
            {"lang": code, **{f: self.cleaned_data[f"{code}-{f}"] for f in self.FIELDS}}
            for code, _name in self.langs
            if any(self.cleaned_data[f"{code}-{f}"].strip() for f in self.FIELDS)
        ]
        return self.kept + filled


@marketing_required
def mailing_index_view(request: HttpRequest) -> HttpResponse:
    """Campaigns, newest first, with their state and progress."""
    return render(request, "marketing/mailing_index.html", {"mailings": selectors.mailings_with_progress()})


@marketing_required
def mailing_edit_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Create a campaign, or edit one while it is a draft."""
    mailing = get_object_or_404(Mailing, pk=pk) if pk else None
    if mailing is not None and mailing.state != MailingState.DRAFT:
        messages.info(request, _("Only a draft can be edited: cancel the campaign first."))
        return redirect("marketing:mailing_detail", pk=mailing.pk)
    initial = {"email_from": getattr(request.user, "email", "")} if mailing is None else {}
    form = MailingForm(request.POST or None, instance=mailing, initial=initial)
    variants = MailingVariantsForm(request.POST or None, mailing=mailing)
    if request.method == "POST" and form.is_valid() and variants.is_valid():
        uploads = [
            UploadedFile(name=f.name or "", content=f.read(), mimetype=f.content_type or "")
            for f in request.FILES.getlist("attachments")
        ]
        try:
            # The campaign, its language variants and its new files are saved together, or none is.
            with transaction.atomic():
                saved = form.save(commit=False)
                if saved.user_id is None:
                    saved.user = request.user  # type: ignore[assignment]
                saved.save()
                form.save_m2m()
                services.mailing_translations_set(mailing=saved, variants=variants.variants())
                removed = [int(i) for i in request.POST.getlist("remove_attachment") if i.isascii() and i.isdigit()]
                mailing_attachments_remove(mailing=saved, attachment_ids=removed)
                mailing_attachments_add(mailing=saved, files=uploads)
        except AttachmentsTooLarge as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Campaign “%(subject)s” saved.") % {"subject": saved.subject})
            return redirect("marketing:mailing_detail", pk=saved.pk)
    attachments = list(mailing_attachments(mailing)) if mailing is not None else []
    context = {"form": form, "variants": variants, "mailing": mailing, "attachments": attachments}
    return render(request, "marketing/mailing_form.html", context)


@marketing_required
def mailing_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """A campaign: its state and reason, what it will do before sending, its statistics after."""
    mailing = get_object_or_404(Mailing.objects.select_related("target_model", "mail_server"), pk=pk)
    context: dict[str, Any] = {
        "mailing": mailing,
        "stats": selectors.mailing_statistics(mailing),
        "errors": services.mailing_errors(mailing),
        "lists": list(mailing.mailing_lists.all()),
        "quota_resumes_at": selectors.mailing_waiting_for_quota(mailing),
        "queue_message_id": selectors.mailing_message_id(mailing),
        "attachments": list(mailing_attachments(mailing)),
    }
    if mailing.state in {MailingState.DRAFT, MailingState.IN_QUEUE, MailingState.PAUSED} and not context["errors"]:
        context["forecast"] = recipient_forecast(mailing)
        context["sending"] = sending_forecast(mailing, context["forecast"].to_mail)
    return render(request, "marketing/mailing_detail.html", context)


@marketing_required
@require_POST
def mailing_action_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The buttons of a campaign: send now, schedule, test, cancel, retry failed, duplicate."""
    mailing = get_object_or_404(Mailing, pk=pk)
    action = request.POST.get("action", "")
    if action in {"send", "schedule"}:
        when = None
        if action == "schedule":
            when = parse_datetime(request.POST.get("schedule_date", ""))
            if when is None:
                messages.error(request, _("Choose the date and time to send the campaign."))
                return redirect("marketing:mailing_detail", pk=mailing.pk)
            if timezone.is_naive(when):
                when = timezone.make_aware(when, timezone.get_current_timezone())
        try:
            services.mailing_put_in_queue(mailing=mailing, when=when)
        except MailingNotReady as exc:
            for error in exc.errors:
                messages.error(request, error)
        else:
            if when is None:
                messages.success(request, _("The campaign is in the queue."))
            else:
                messages.success(request, _("Scheduled for %(when)s.") % {"when": f"{when:%Y-%m-%d %H:%M %Z}"})
    elif action == "cancel":
        if services.mailing_cancel(mailing=mailing):
            messages.success(request, _("Back to draft: nothing more is sent until the campaign is sent again."))
        else:
            messages.info(
                request, _("A campaign that is %(state)s cannot be cancelled.") % {"state": mailing.get_state_display()}
            )
    elif action == "test":
        try:
            mail = services.mailing_test_send(mailing=mailing, email=request.POST.get("test_email", ""))
        except (InvalidEmailError, MailingNotReady) as exc:
            for error in getattr(exc, "errors", [str(exc)]):
                messages.error(request, error)
        else:
            address = mail.recipients.get().email
            messages.success(
                request,
                _("Test sent to %(address)s (it is in the queue as “%(subject)s”).")
                % {"address": address, "subject": mail.subject},
            )
    elif action == "resume":
        if mailing_resume(mailing=mailing):
            messages.success(request, _("Back in the queue: it carries on with the recipients not yet mailed."))
        else:
            messages.info(
                request, _("A campaign that is %(state)s cannot be resumed.") % {"state": mailing.get_state_display()}
            )
    elif action == "retry":
        count = services.mailing_retry_failed(mailing=mailing)
        if count:
            messages.success(
                request,
                ngettext(
                    "%(n)d failed recipient will be tried again.", "%(n)d failed recipients will be tried again.", count
                )
                % {"n": count},
            )
        else:
            messages.info(request, _("No recipient failed: there is nothing to try again."))
    elif action == "duplicate":
        copy = services.mailing_duplicate(mailing=mailing, user=request.user)
        messages.success(request, _("A copy of the campaign was created as a draft."))
        return redirect("marketing:mailing_edit", pk=copy.pk)
    else:
        return HttpResponse(_("Unknown action."), status=400, content_type="text/plain")
    return redirect("marketing:mailing_detail", pk=mailing.pk)


@marketing_required
def mailing_traces_view(request: HttpRequest, pk: int) -> HttpResponse:
    """The recipients behind a statistic: ``?status=`` a trace status or ``?failure=`` a failure type."""
    mailing = get_object_or_404(Mailing, pk=pk)
    traces = mailing.traces.select_related("contact").order_by("id")
    status = request.GET.get("status", "")
    failure = request.GET.get("failure", "")
    groups = {
        "delivered": [TraceStatus.SENT, TraceStatus.OPEN, TraceStatus.REPLY],
        "opened": [TraceStatus.OPEN, TraceStatus.REPLY],
    }
    if status in groups:
        traces = traces.filter(trace_status__in=groups[status])
    elif status == "clicked":
        traces = traces.filter(links_click_datetime__isnull=False)
    elif status == "sent":
        traces = traces.filter(sent_datetime__isnull=False)
    elif status in TraceStatus.values:
        traces = traces.filter(trace_status=status)
    elif status:
        return HttpResponse(_("Unknown status %(status)r.") % {"status": status}, status=400, content_type="text/plain")
    if failure:
        if failure not in TraceFailure.values:
            return HttpResponse(
                _("Unknown failure type %(failure)r.") % {"failure": failure}, status=400, content_type="text/plain"
            )
        traces = traces.filter(failure_type=failure)
    page = Paginator(traces, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "marketing/mailing_traces.html",
        {"mailing": mailing, "page": page, "status": status, "failure": failure},
    )
