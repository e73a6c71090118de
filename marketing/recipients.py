"""Who a campaign writes to, and who it leaves out and why (in Odoo's order).

Candidates come from the campaign's mailing lists (their members) or from the records of a model
with a chatter that match its filter (each record's own contact). Each candidate is then either
mailed or left out with one reason, checked in this order: blacklisted, opted out, already
mailed at this address, no address, invalid address — the last one covering duplicates within
the same run, since each address mailed is added to the "already mailed" set as the run goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.http import QueryDict
from django.utils.translation import gettext as _

from mailcore.addresses import email_normalize
from mailcore.models import Partner
from marketing.models import Mailing, MailingSubscription, MailingTrace, TraceFailure

# Lookups a campaign filter may use, besides plain equality.
FILTER_LOOKUPS = {"in", "gte", "lte", "gt", "lt", "icontains", "isnull"}


@dataclass(frozen=True)
class Candidate:
    """A recipient before the exclusions: a contact, and the record it was found on (if any)."""

    contact_id: int | None
    email: str
    is_blacklisted: bool
    model_id: int | None = None
    res_id: int | None = None


class TargetFilterError(ValueError):
    """A campaign filter that cannot be applied; ``errors`` names each bad condition."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("; ".join(errors))


def target_queryset(mailing: Mailing) -> models.QuerySet[Any]:
    """The records of a campaign over a model, filtered (raises TargetFilterError on a bad filter)."""
    if mailing.target_model is None:
        raise TargetFilterError([_("no model chosen")])
    model = mailing.target_model.model_class()
    if model is None or not getattr(model, "mail_partner_field", None):
        raise TargetFilterError(
            [_("%(model)s records have no contact to write to") % {"model": mailing.target_model.name}]
        )
    conditions: dict[str, Any] = {}
    errors = []
    for key, values in QueryDict(mailing.target_filter).lists():
        name, _sep, lookup = key.partition("__")
        if lookup and lookup not in FILTER_LOOKUPS:
            errors.append(
                _("%(key)s: unknown condition %(lookup)r (use %(lookups)s)")
                % {"key": key, "lookup": lookup, "lookups": ", ".join(sorted(FILTER_LOOKUPS))}
            )
            continue
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            errors.append(
                _("%(key)s: %(model)s has no field %(field)r")
                % {"key": key, "model": model._meta.verbose_name, "field": name}
            )
            continue
        if field.many_to_many or field.one_to_many or not getattr(field, "concrete", False):
            errors.append(_("%(key)s: %(field)r cannot be filtered on") % {"key": key, "field": name})
            continue
        value = values[-1]
        try:
            if lookup == "isnull":
                if value.lower() not in {"true", "false", "1", "0"}:
                    raise ValidationError(_("expected true or false"))
                conditions[key] = value.lower() in {"true", "1"}
            elif lookup == "in":
                conditions[key] = [_to_python(field, part.strip()) for part in value.split(",")]
            elif lookup == "icontains":
                conditions[key] = value
            else:
                conditions[key] = _to_python(field, value)
        except ValidationError as exc:
            errors.append(f"{key}: {' '.join(str(m) for m in exc.messages)}")
    if errors:
        raise TargetFilterError(errors)
    return model._default_manager.filter(**conditions)


def _to_python(field: Any, value: str) -> Any:
    if field.is_relation:
        field = field.target_field
    python = field.to_python(value)
    if getattr(field, "choices", None) and python not in {choice for choice, _label in field.flatchoices}:
        choices = ", ".join(str(c) for c, _l in field.flatchoices)
        raise ValidationError(_("%(value)r is not one of %(choices)s") % {"value": value, "choices": choices})
    return python


def candidates(mailing: Mailing, *, batch_size: int = 1000) -> Iterator[Candidate]:
    """Every candidate of the campaign in a stable order (by contact, or by record), those that
    already have a trace included; the caller skips those (a trace means "handled")."""
    if mailing.target_model_id is None:
        members = (
            Partner.objects.filter(mailing_subscriptions__mailing_list__in=mailing.mailing_lists.all())
            .distinct()
            .order_by("id")
            .values_list("id", "email", "is_blacklisted")
        )
        for contact_id, email, blacklisted in members.iterator(chunk_size=batch_size):
            yield Candidate(contact_id, email, blacklisted)
        return
    records = target_queryset(mailing)
    field = records.model.mail_partner_field
    rows = records.order_by("pk").values_list("pk", field, f"{field}__email", f"{field}__is_blacklisted")
    model_id = ContentType.objects.get_for_model(records.model).pk
    for res_id, contact_id, email, blacklisted in rows.iterator(chunk_size=batch_size):
        yield Candidate(contact_id, email or "", bool(blacklisted), model_id, res_id)


def opt_out_emails(mailing: Mailing) -> set[str]:
    """Addresses opted out of one of the campaign's lists and opted in on none of them (Odoo:
    one opt-in wins, even across two contacts with the same address)."""
    if mailing.target_model_id is not None:
        return set()
    rows = MailingSubscription.objects.filter(mailing_list__in=mailing.mailing_lists.all()).values_list(
        "contact__email_normalized", "opt_out"
    )
    opted_in = {email for email, opt_out in rows if not opt_out}
    return {email for email, opt_out in rows if opt_out} - opted_in


def seen_emails(mailing: Mailing) -> set[str]:
    """Addresses this campaign already has a trace for, whatever its status (Odoo's seen list)."""
    return set(MailingTrace.objects.filter(mailing=mailing).exclude(email="").values_list("email", flat=True))


def exclusion(candidate: Candidate, *, opted_out: set[str], seen: set[str]) -> tuple[str, TraceFailure | None]:
    """(normalised address or the raw one, the reason to leave it out or None to mail it).

    Adds a mailed address to ``seen``, so a second candidate with it in the same run is a duplicate.
    """
    normalized = email_normalize(candidate.email)
    address = normalized or candidate.email.strip()
    if candidate.is_blacklisted:
        return address, TraceFailure.MAIL_BL
    if normalized is not None and normalized in opted_out:
        return address, TraceFailure.MAIL_OPTOUT
    if normalized is not None and normalized in seen:
        return address, TraceFailure.MAIL_DUP
    if not candidate.email.strip():
        return address, TraceFailure.MAIL_EMAIL_MISSING
    if normalized is None:
        return address, TraceFailure.MAIL_EMAIL_INVALID
    seen.add(normalized)
    return address, None


@dataclass(frozen=True)
class RecipientForecast:
    """How many of a campaign's remaining candidates it will mail, and how many it leaves out (by reason)."""

    to_mail: int
    excluded: dict[str, int]
    already_handled: int

    @property
    def excluded_labelled(self) -> list[tuple[str, str, int]]:
        labels = dict(TraceFailure.choices)
        return [(key, str(labels.get(key, key)), count) for key, count in self.excluded.items()]


def recipient_forecast(mailing: Mailing) -> RecipientForecast:
    """Run the exclusions over the remaining candidates without writing anything."""
    opted_out, seen = opt_out_emails(mailing), seen_emails(mailing)
    handled_contacts = set(
        MailingTrace.objects.filter(mailing=mailing, model__isnull=True).values_list("contact_id", flat=True)
    )
    handled_records = set(
        MailingTrace.objects.filter(mailing=mailing, model__isnull=False).values_list("res_id", flat=True)
    )
    to_mail, already = 0, 0
    excluded: dict[str, int] = {}
    for candidate in candidates(mailing):
        if (candidate.res_id in handled_records) if candidate.model_id else (candidate.contact_id in handled_contacts):
            already += 1
            continue
        _address, reason = exclusion(candidate, opted_out=opted_out, seen=seen)
        if reason is None:
            to_mail += 1
        else:
            excluded[reason] = excluded.get(reason, 0) + 1
    return RecipientForecast(to_mail=to_mail, excluded=excluded, already_handled=already)
