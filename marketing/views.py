"""Pages of e-mail marketing: mailing lists, their members, a contact's subscriptions, the CSV import.

Views parse input, call one service or selector and format the result. Managing lists needs the
``marketing.change_mailinglist`` permission (Odoo's "Email Marketing / User" group).
"""

from __future__ import annotations

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from mailcore.addresses import email_normalize
from mailcore.models import Partner
from marketing import selectors, services
from marketing.exceptions import ContactImportError
from marketing.models import MailingList, MailingSubscription

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
        labels = {"name": "List name", "is_public": "Show in the subscription preferences page"}

    def clean_name(self) -> str:
        return str(self.cleaned_data["name"]).strip()


class AddMemberForm(forms.Form):
    email = forms.CharField(label="E-mail", max_length=255)
    name = forms.CharField(label="Name", max_length=255, required=False)

    def clean_email(self) -> str:
        value = str(self.cleaned_data["email"]).strip()
        if email_normalize(value) is None:
            raise forms.ValidationError(f"Invalid email address: {value!r}.")
        return value


class ImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file", help_text="UTF-8, with a first line naming the columns: name, email, list."
    )
    mailing_list = forms.ModelChoiceField(
        label="Add to list",
        queryset=MailingList.objects.filter(active=True),
        required=False,
        help_text="For lines whose 'list' column is empty, or when the file has no such column.",
    )


@marketing_required
def mailing_list_index_view(request: HttpRequest) -> HttpResponse:
    """Mailing lists with their counters, and a form to create one."""
    form = MailingListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        created = services.mailing_list_create(name=form.cleaned_data["name"], is_public=form.cleaned_data["is_public"])
        messages.success(request, f"Mailing list “{created.name}” created.")
        return redirect("marketing:list_detail", pk=created.pk)
    lists = [(ml, selectors.list_counts(ml)) for ml in selectors.mailing_lists_with_counts()]
    return render(request, "marketing/list_index.html", {"lists": lists, "form": form})


@marketing_required
def mailing_list_detail_view(request: HttpRequest, pk: int) -> HttpResponse:
    """One list: its counters, its members (searchable, paginated), a form to add a member."""
    mailing_list = get_object_or_404(MailingList, pk=pk)
    form = AddMemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        contact, _created = services.contact_get_or_create_by_email(
            email=form.cleaned_data["email"], name=form.cleaned_data["name"]
        )
        result = services.mailing_list_subscribe(mailing_list=mailing_list, contacts=[contact])
        if result.added:
            messages.success(request, f"{contact.email_formatted} added to “{mailing_list.name}”.")
        elif result.kept_opted_out:
            messages.warning(
                request, f"{contact.email_formatted} opted out of “{mailing_list.name}” and stays opted out."
            )
        else:
            messages.info(request, f"{contact.email_formatted} is already in “{mailing_list.name}”.")
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
        verb = "opted out of" if opt_out else "opted back into"
        messages.success(request, f"{subscription.contact.name} {verb} “{subscription.mailing_list.name}”.")
    return redirect(request.POST.get("next") or "marketing:list_detail", pk=subscription.mailing_list_id)


@marketing_required
@require_POST
def subscription_remove_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Take a member off the list."""
    subscription = get_object_or_404(MailingSubscription.objects.select_related("contact", "mailing_list"), pk=pk)
    list_id = subscription.mailing_list_id
    services.subscription_remove(subscription=subscription)
    messages.success(request, f"{subscription.contact.name} removed from “{subscription.mailing_list.name}”.")
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
            summary = (
                f"Imported {result.rows} line{'s' if result.rows != 1 else ''}: "
                f"{result.contacts_created} new contact{'s' if result.contacts_created != 1 else ''}, "
                f"{result.contacts_existing} already known; {result.subscriptions_added} added to "
                f"{', '.join(result.lists)}, {result.subscriptions_already} already there."
            )
            messages.success(request, summary)
            if result.kept_opted_out:
                messages.warning(request, f"{result.kept_opted_out} had opted out and stay opted out.")
            if result.blacklisted:
                messages.warning(request, f"{result.blacklisted} are blacklisted and will not be mailed.")
            return redirect("marketing:lists")
    return render(request, "marketing/import.html", {"form": form, "errors": errors})
