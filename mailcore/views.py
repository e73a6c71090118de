"""Administration pages of the mailcore app (staff only): developer mode, outgoing mail servers,
alias domains and aliases — Odoo's Settings › Technical menu, not the Django admin."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mailcore import conf
from mailcore.dkim import dkim_generate_key, dkim_record
from mailcore.models import Alias, AliasDomain, MailServer
from mailcore.permissions import staff_required
from mailcore.registry import alias_target_models
from mailcore.servers import server_test_connection

ViewFunc = Callable[..., HttpResponse]
# RFC 6376 §3.1: a selector is one or more DNS labels.
DKIM_SELECTOR_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")


# --- outgoing mail servers ----------------------------------------------------------------------
class MailServerForm(forms.ModelForm):  # type: ignore[type-arg]
    smtp_pass = forms.CharField(
        label=gettext_lazy("Password"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Leave empty to keep the current password."),
    )

    class Meta:
        model = MailServer
        fields = [
            "name",
            "smtp_host",
            "smtp_port",
            "smtp_encryption",
            "smtp_user",
            "smtp_pass",
            "from_filter",
            "sequence",
            "smtp_timeout",
            "active",
        ]

    def clean_smtp_pass(self) -> str:
        value: str = self.cleaned_data.get("smtp_pass") or ""
        if not value and self.instance.pk:
            return self.instance.smtp_pass  # an empty password field keeps the stored one
        return value


@staff_required
@require_GET
def server_list_view(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "mailcore/servers.html",
        {
            "servers": MailServer.objects.all(),
            "builtin": {
                "host": conf.smtp_host(),
                "port": conf.smtp_port(),
                "encryption": conf.smtp_encryption(),
                "from_filter": conf.smtp_from_filter(),
            },
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def server_edit_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    server = get_object_or_404(MailServer, pk=pk) if pk else None
    form = MailServerForm(request.POST or None, instance=server)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Outgoing mail server “%(name)s” saved.") % {"name": saved.name})
        return redirect("mailcore:servers")
    return render(request, "mailcore/server_form.html", {"form": form, "server": server})


@staff_required
@require_POST
def server_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    server = get_object_or_404(MailServer, pk=pk)
    server.delete()
    messages.success(request, _("Outgoing mail server “%(name)s” deleted.") % {"name": server.name})
    return redirect("mailcore:servers")


@staff_required
@require_POST
def server_test_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Odoo's "Test Connection": MAIL FROM, RCPT TO and DATA without sending anything."""
    server = get_object_or_404(MailServer, pk=pk) if pk else None
    ok, message = server_test_connection(server)
    if request.htmx:  # type: ignore[attr-defined]
        return render(request, "mailcore/partials/test_result.html", {"ok": ok, "message": message})
    (messages.success if ok else messages.error)(request, message)
    return redirect("mailcore:servers")


# --- alias domains ------------------------------------------------------------------------------
class AliasDomainForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = AliasDomain
        fields = ["name", "bounce_alias", "catchall_alias", "default_from", "sequence"]


@staff_required
@require_GET
def alias_domain_list_view(request: HttpRequest) -> HttpResponse:
    return render(request, "mailcore/alias_domains.html", {"domains": AliasDomain.objects.all()})


@staff_required
@require_http_methods(["GET", "POST"])
def alias_domain_edit_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    domain = get_object_or_404(AliasDomain, pk=pk) if pk else None
    form = AliasDomainForm(request.POST or None, instance=domain)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Alias domain “%(name)s” saved.") % {"name": saved.name})
        return redirect("mailcore:alias_domains")
    return render(
        request,
        "mailcore/alias_domain_form.html",
        {
            "form": form,
            "title": domain.name if domain else _("New alias domain"),
            "parent_label": _("Alias domains"),
            "parent_url": "mailcore:alias_domains",
            "delete_url": "mailcore:alias_domain_delete" if domain else "",
            "object": domain,
            "dkim_record": dkim_record(domain) if domain else None,
            "default_selector": conf.dkim_selector(),
        },
    )


@staff_required
@require_POST
def alias_domain_dkim_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Generate (or replace) the domain's DKIM key; the page then shows the record to publish."""
    domain = get_object_or_404(AliasDomain, pk=pk)
    replacing = bool(domain.dkim_private_key)
    selector = request.POST.get("selector", "").strip().lower()
    if selector and not DKIM_SELECTOR_RE.fullmatch(selector):
        messages.error(request, _("A selector is letters, digits and hyphens (e.g. mailcore2026)."))
        return redirect("mailcore:alias_domain_edit", pk=domain.pk)
    dkim_generate_key(alias_domain=domain, selector=selector or None)
    text = _("New DKIM key generated: publish the record below, then check it on the diagnostics page.")
    if replacing:
        text += " " + _("Mail is signed with the new key from now on: until the record is published, signatures fail.")
    messages.success(request, text)
    return redirect("mailcore:alias_domain_edit", pk=domain.pk)


@staff_required
@require_POST
def alias_domain_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    domain = get_object_or_404(AliasDomain, pk=pk)
    domain.delete()
    messages.success(request, _("Alias domain “%(name)s” and its aliases deleted.") % {"name": domain.name})
    return redirect("mailcore:alias_domains")


# --- aliases ------------------------------------------------------------------------------------
class AliasForm(forms.ModelForm):  # type: ignore[type-arg]
    alias_defaults = forms.JSONField(
        label=Alias._meta.get_field("alias_defaults").verbose_name,
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy('Field values for new records, e.g. {"stage": "new"}.'),
    )

    class Meta:
        model = Alias
        fields = [
            "alias_name",
            "alias_domain",
            "alias_model",
            "alias_defaults",
            "alias_force_thread_id",
            "alias_contact",
            "alias_bounced_content",
            "active",
        ]
        widgets = {"alias_contact": forms.RadioSelect, "alias_bounced_content": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Only models with a chatter can receive mail.
        targets = ContentType.objects.get_for_models(*alias_target_models()).values()
        self.fields["alias_model"].queryset = ContentType.objects.filter(pk__in=[ct.pk for ct in targets])  # type: ignore[attr-defined]
        self.fields["alias_model"].label_from_instance = lambda ct: str(ct.name).capitalize()  # type: ignore[attr-defined]
        if not self.instance.pk:
            self.initial.setdefault("alias_domain", AliasDomain.objects.order_by("sequence", "id").first())

    def clean_alias_name(self) -> str:
        name: str = self.cleaned_data["alias_name"].strip().lower()
        if not name or "@" in name or any(c.isspace() for c in name):
            raise forms.ValidationError(_("Use the part before the @ only, without spaces."))
        return name

    def clean_alias_defaults(self) -> dict[str, Any]:
        value = self.cleaned_data.get("alias_defaults") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError(_('Write an object, e.g. {"stage": "new"}.'))
        return value


@staff_required
@require_GET
def alias_list_view(request: HttpRequest) -> HttpResponse:
    aliases = Alias.objects.select_related("alias_domain", "alias_model").order_by("alias_domain__name", "alias_name")
    return render(request, "mailcore/aliases.html", {"aliases": aliases})


@staff_required
@require_http_methods(["GET", "POST"])
def alias_edit_view(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    alias = get_object_or_404(Alias, pk=pk) if pk else None
    form = AliasForm(request.POST or None, instance=alias)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, _("Alias %(address)s saved.") % {"address": saved.display_email})
        return redirect("mailcore:aliases")
    return render(
        request,
        "mailcore/simple_form.html",
        {
            "form": form,
            "title": alias.display_email if alias else _("New alias"),
            "parent_label": _("Aliases"),
            "parent_url": "mailcore:aliases",
            "delete_url": "mailcore:alias_delete" if alias else "",
            "object": alias,
            "intro": _(
                "Mail sent to the alias creates a record (or posts on one). The contact policy says "
                "who may write; refused senders get the custom rejection message in the bounce."
            ),
        },
    )


@staff_required
@require_POST
def alias_delete_view(request: HttpRequest, pk: int) -> HttpResponse:
    alias = get_object_or_404(Alias.objects.select_related("alias_domain"), pk=pk)
    alias.delete()
    messages.success(request, _("Alias %(address)s deleted.") % {"address": alias.display_email})
    return redirect("mailcore:aliases")
