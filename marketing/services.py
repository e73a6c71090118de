"""Writes of the marketing app: mailing lists, subscriptions and the contact import.

Each service is transactional; views, the API and commands call one of them and format the result.
"""

from __future__ import annotations

import _csv
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from mailcore.addresses import email_normalize, email_split, formataddr
from mailcore.contacts import contact_blacklist_add, contact_email_clean, contact_find_or_create
from mailcore.models import Partner
from mailqueue.models import Mail, MailState
from marketing import conf
from marketing.attachments import mailing_attachments_copy
from marketing.exceptions import ContactImportError, ImportLineError, MailingNotReady
from marketing.models import (
    Mailing,
    MailingList,
    MailingState,
    MailingSubscription,
    MailingTrace,
    MailingTranslation,
    ScheduleType,
    TraceStatus,
)
from marketing.queue import marketing_trigger, queue_test_mail
from marketing.validation import mailing_errors

# Header names accepted for each column of an import, compared lower-cased and without spaces.
EMAIL_HEADERS = {"email", "e-mail", "emailaddress", "e-mailaddress", "mail"}
NAME_HEADERS = {"name", "fullname", "contact", "contactname"}
LIST_HEADERS = {"list", "lists", "mailinglist", "mailinglists"}
# A campaign's variant in one more language: its language and its own text.
TRANSLATED_FIELDS = ("lang", "subject", "preview", "body_html")
NAME_MAX_LENGTH = Partner._meta.get_field("name").max_length or 255


def mailing_list_create(*, name: str, is_public: bool = True) -> MailingList:
    """A new mailing list (Odoo ``mailing.list``); the name is trimmed and must be unique."""
    return MailingList.objects.create(name=name.strip(), is_public=is_public)


@dataclass
class SubscribeResult:
    """What adding contacts to a list did: new members, members already there, and members who had
    opted out (left opted out: only they may opt in again)."""

    added: int = 0
    already: int = 0
    kept_opted_out: int = 0


def mailing_list_subscribe(*, mailing_list: MailingList, contacts: Iterable[Partner]) -> SubscribeResult:
    """Add contacts to a list. A contact who opted out of it stays opted out."""
    ids = {contact.pk for contact in contacts}
    existing = dict(
        MailingSubscription.objects.filter(mailing_list=mailing_list, contact_id__in=ids).values_list(
            "contact_id", "opt_out"
        )
    )
    MailingSubscription.objects.bulk_create(
        [MailingSubscription(mailing_list=mailing_list, contact_id=pk) for pk in sorted(ids - existing.keys())],
        ignore_conflicts=True,  # a concurrent add of the same contact is not an error
    )
    opted_out = sum(1 for value in existing.values() if value)
    added = len(ids - existing.keys())
    return SubscribeResult(added=added, already=len(existing) - opted_out, kept_opted_out=opted_out)


def subscription_remove(*, subscription: MailingSubscription) -> None:
    """Take a contact off a list (the opt-out history goes with it, as in Odoo)."""
    subscription.delete()


def subscription_set_opt_out(*, subscription: MailingSubscription, opt_out: bool) -> bool:
    """Opt a member out of (or back into) one list; True when something changed.

    Conditional on the current value, so a double click or a concurrent change records the
    opt-out date once.
    """
    changed = MailingSubscription.objects.filter(pk=subscription.pk, opt_out=not opt_out).update(
        opt_out=opt_out, opt_out_datetime=timezone.now() if opt_out else None
    )
    subscription.refresh_from_db(fields=["opt_out", "opt_out_datetime"])
    return bool(changed)


def member_add(*, mailing_list: MailingList, email: str, name: str = "") -> tuple[Partner, SubscribeResult]:
    """Add one person to a list by address: their contact (the one :func:`contact_find` gives),
    else a new contact named ``name``. Raises InvalidEmailError for an address that is not one."""
    text = contact_email_clean(formataddr(name.strip(), email.strip()) if name.strip() else email, required=True)
    contact = contact_find_or_create(text=text)
    return contact, mailing_list_subscribe(mailing_list=mailing_list, contacts=[contact])


# --- the CSV import ------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import did (every count is of distinct addresses)."""

    rows: int = 0
    contacts_created: int = 0
    contacts_existing: int = 0
    subscriptions_added: int = 0
    subscriptions_already: int = 0
    kept_opted_out: int = 0
    blacklisted: int = 0
    lists: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    email: str
    name: str
    lists: list[MailingList]


def _header_index(header: list[str], names: set[str]) -> int | None:
    for index, title in enumerate(header):
        if title.strip().lower().replace(" ", "").replace("_", "") in names:
            return index
    return None


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # The byte offset tells the user where to look; a guessed charset would import garbled names.
        line = data[: exc.start].count(b"\n") + 1
        raise ContactImportError(
            [ImportLineError(line, _("the file is not UTF-8 text: save it as 'CSV UTF-8' and import it again"))]
        ) from exc


def _reader(text: str) -> _csv.Reader:
    sample = text[:4096]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(text, newline=""), dialect)


def _parse(data: bytes, default_list: MailingList | None) -> list[_Row]:
    text = _decode(data)
    reader = _reader(text)
    try:
        header: list[str] = next(reader)
    except StopIteration:
        raise ContactImportError([ImportLineError(1, _("the file is empty"))]) from None
    except csv.Error as exc:
        raise ContactImportError([ImportLineError(1, _("unreadable CSV: %(error)s") % {"error": exc})]) from exc
    email_at = _header_index(header, EMAIL_HEADERS)
    name_at = _header_index(header, NAME_HEADERS)
    list_at = _header_index(header, LIST_HEADERS)
    if email_at is None:
        raise ContactImportError(
            [ImportLineError(1, _("no e-mail column: the first line must name the columns, e.g. 'name,email,list'"))]
        )
    if list_at is None and default_list is None:
        raise ContactImportError([ImportLineError(1, _("no list column: add a 'list' column or choose a list"))])
    lists_by_name = {ml.name.lower(): ml for ml in MailingList.objects.filter(active=True)}

    rows: list[_Row] = []
    errors: list[ImportLineError] = []
    max_rows = conf.import_max_rows()
    try:
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue  # blank lines are allowed anywhere
            if len(rows) >= max_rows:
                errors.append(
                    ImportLineError(line, _("more than %(max)d contacts: split the file") % {"max": max_rows})
                )
                break
            raw_email = record[email_at].strip() if email_at < len(record) else ""
            name = record[name_at].strip() if name_at is not None and name_at < len(record) else ""
            list_names = record[list_at].strip() if list_at is not None and list_at < len(record) else ""
            if not raw_email:
                errors.append(ImportLineError(line, _("no e-mail address")))
                continue
            if len(email_split(raw_email)) > 1:
                errors.append(ImportLineError(line, _("one address per line, not %(email)r") % {"email": raw_email}))
                continue
            normalized = email_normalize(raw_email)
            if normalized is None:
                errors.append(ImportLineError(line, _("invalid e-mail address %(email)r") % {"email": raw_email}))
                continue
            if len(name) > NAME_MAX_LENGTH:
                errors.append(
                    ImportLineError(line, _("the name is longer than %(max)d characters") % {"max": NAME_MAX_LENGTH})
                )
                continue
            targets: list[MailingList] = []
            unknown = []
            for list_name in filter(None, (part.strip() for part in list_names.split("|"))):
                found = lists_by_name.get(list_name.lower())
                if found is None:
                    unknown.append(list_name)
                elif found not in targets:
                    targets.append(found)
            if unknown:
                errors.append(
                    ImportLineError(
                        line, _("no mailing list named %(names)s") % {"names": ", ".join(map(repr, unknown))}
                    )
                )
                continue
            if not targets and default_list is not None:
                targets.append(default_list)
            if not targets:
                errors.append(ImportLineError(line, _("no list: fill the 'list' column or choose a list")))
                continue
            rows.append(_Row(line, normalized, name, targets))
    except csv.Error as exc:
        errors.append(ImportLineError(reader.line_num, _("unreadable CSV: %(error)s") % {"error": exc}))
    if errors:
        raise ContactImportError(errors)
    if not rows:
        raise ContactImportError([ImportLineError(2, _("no contact to import"))])
    return rows


def contacts_import_csv(*, data: bytes, default_list: MailingList | None = None) -> ImportResult:
    """Import contacts and their list memberships from CSV (columns: name, email, list).

    Every line is checked before anything is written: one bad line refuses the whole file, with
    every bad line and its reason, so a corrected file can simply be imported again. An address
    already known reuses its contact (its name is left alone); the same address on several lines
    is one contact. Several lists in one cell are separated by '|'. A contact who opted out of a
    list stays opted out; blacklisted addresses are imported but will not be mailed.
    """
    rows = _parse(data, default_list)
    names: dict[str, str] = {}
    memberships: dict[str, set[int]] = {}
    lists: dict[int, MailingList] = {}
    for row in rows:
        if row.name and not names.get(row.email):
            names[row.email] = row.name
        names.setdefault(row.email, "")
        for ml in row.lists:
            memberships.setdefault(row.email, set()).add(ml.pk)
            lists[ml.pk] = ml

    result = ImportResult(rows=len(rows), lists=sorted(ml.name for ml in lists.values()))
    with transaction.atomic():
        contacts: dict[str, Partner] = {}
        # contact_find's rule, for many addresses at once: active contacts, the oldest first.
        for partner in Partner.objects.filter(email_normalized__in=list(names), active=True).order_by("id"):
            contacts.setdefault(partner.email_normalized, partner)
        result.contacts_existing = len(contacts)
        new = [
            Partner(name=(names[email] or email)[:NAME_MAX_LENGTH], email=email, email_normalized=email)
            for email in names
            if email not in contacts
        ]
        Partner.objects.bulk_create(new, batch_size=1000)  # ids come back (PostgreSQL, SQLite ≥ 3.35)
        contacts.update({p.email_normalized: p for p in new})
        result.contacts_created = len(new)
        result.blacklisted = sum(1 for p in contacts.values() if p.is_blacklisted)
        for list_id, ml in lists.items():
            members = [contacts[email] for email, ids in memberships.items() if list_id in ids]
            added = mailing_list_subscribe(mailing_list=ml, contacts=members)
            result.subscriptions_added += added.added
            result.subscriptions_already += added.already
            result.kept_opted_out += added.kept_opted_out
    return result


# --- unsubscribing ---------------------------------------------------------------------------------
def subscription_opt_out_by_email(*, email: str, list_ids: Iterable[int]) -> int:
    """Opt an address out of lists (Odoo ``_update_subscription_from_email``): every contact with
    that address, archived ones included, on each of the lists. Returns the rows that changed."""
    return MailingSubscription.objects.filter(
        contact__email_normalized=email, mailing_list_id__in=list(list_ids), opt_out=False
    ).update(opt_out=True, opt_out_datetime=timezone.now())


def subscription_opt_in_by_email(*, email: str, list_ids: Iterable[int]) -> int:
    """Opt an address back into lists it had left, and join public lists it was not on (with its
    first contact). Private lists cannot be joined from outside."""
    ids = set(list_ids)
    changed = MailingSubscription.objects.filter(
        contact__email_normalized=email, mailing_list_id__in=ids, opt_out=True
    ).update(opt_out=False, opt_out_datetime=None)
    member_of = set(
        MailingSubscription.objects.filter(contact__email_normalized=email, mailing_list_id__in=ids).values_list(
            "mailing_list_id", flat=True
        )
    )
    joinable = list(MailingList.objects.filter(pk__in=ids - member_of, is_public=True, active=True))
    if joinable:
        contact = contact_find_or_create(text=email)
        for mailing_list in joinable:
            changed += mailing_list_subscribe(mailing_list=mailing_list, contacts=[contact]).added
    return changed


def address_blacklist(*, email: str) -> None:
    """Never mail this address again, from any campaign or record (Odoo's blocklist is global).

    The blacklist flag lives on the contact; an address that has none gets one to carry it.
    """
    contact_find_or_create(text=email)
    contact_blacklist_add(email=email)


def unsubscribe(*, email: str, list_ids: Iterable[int]) -> str:
    """What an unsubscribe link does: opt out of the mailing's lists, or, for a mailing that did
    not go to lists, blacklist the address (there is nothing finer). Returns ``"lists"`` or
    ``"blacklist"``."""
    ids = list(list_ids)
    if ids:
        subscription_opt_out_by_email(email=email, list_ids=ids)
        return "lists"
    address_blacklist(email=email)
    return "blacklist"


# --- campaigns -------------------------------------------------------------------------------------
def _set_state(mailing: Mailing, *, allowed: set[str], **fields: object) -> bool:
    """Move a campaign on only from the states allowed (a conditional update: a double click or
    a concurrent worker cannot move it twice). Refreshes the instance; True when it moved."""
    moved = Mailing.objects.filter(pk=mailing.pk, state__in=allowed).update(**fields)
    mailing.refresh_from_db()
    return bool(moved)


def mailing_put_in_queue(*, mailing: Mailing, when: datetime | None = None) -> None:
    """Odoo ``action_launch`` / ``action_schedule``: check, then queue the campaign now or for a date.

    Raises MailingNotReady with every reason when it cannot be sent as it is.
    """
    errors = mailing_errors(mailing)
    if errors:
        raise MailingNotReady(errors)
    schedule = (
        {"schedule_type": ScheduleType.SCHEDULED, "schedule_date": when}
        if when
        else {
            "schedule_type": ScheduleType.NOW,
            "schedule_date": None,
        }
    )
    if not _set_state(mailing, allowed={MailingState.DRAFT}, state=MailingState.IN_QUEUE, state_reason="", **schedule):
        raise MailingNotReady(
            [_("Only a draft can be sent; this campaign is %(state)s.") % {"state": mailing.get_state_display()}]
        )
    marketing_trigger(at=when)


def mailing_cancel(*, mailing: Mailing) -> bool:
    """Odoo ``action_cancel``: a queued (or paused, or failed) campaign goes back to draft; what it
    already sent stays sent, and sending it again continues with the recipients not yet handled."""
    return _set_state(
        mailing,
        allowed={MailingState.IN_QUEUE, MailingState.PAUSED, MailingState.FAILED},
        state=MailingState.DRAFT,
        schedule_type=ScheduleType.NOW,
        schedule_date=None,
    )


def mailing_translations_set(*, mailing: Mailing, variants: list[dict[str, str]]) -> None:
    """Make the campaign's variants exactly ``variants`` (one per language; a language left out
    loses its variant). Raises ValueError when a language comes twice."""
    langs = [variant["lang"] for variant in variants]
    if len(set(langs)) != len(langs):
        raise ValueError(_("Each language can have one variant only."))
    with transaction.atomic():
        mailing.translations.exclude(lang__in=langs).delete()
        for variant in variants:
            MailingTranslation.objects.update_or_create(
                mailing=mailing,
                lang=variant["lang"],
                defaults={f: variant.get(f, "") for f in TRANSLATED_FIELDS if f != "lang"},
            )


def mailing_duplicate(*, mailing: Mailing, user: Any = None) -> Mailing:
    """Odoo ``copy``: a new draft with the same content, recipients and options; no traces."""
    copy = Mailing.objects.create(
        subject=mailing.subject,
        preview=mailing.preview,
        email_from=mailing.email_from,
        reply_to_mode=mailing.reply_to_mode,
        reply_to=mailing.reply_to,
        body_html=mailing.body_html,
        target_model=mailing.target_model,
        target_filter=mailing.target_filter,
        mail_server=mailing.mail_server,
        track_opens=mailing.track_opens,
        track_clicks=mailing.track_clicks,
        user=user or mailing.user,
    )
    copy.mailing_lists.set(mailing.mailing_lists.all())
    mailing_attachments_copy(source=mailing, target=copy)
    MailingTranslation.objects.bulk_create(
        MailingTranslation(mailing=copy, **{f: getattr(variant, f) for f in TRANSLATED_FIELDS})
        for variant in mailing.translations.all()
    )
    return copy


def mailing_retry_failed(*, mailing: Mailing) -> int:
    """Odoo ``action_retry_failed``: recipients whose mail failed become remaining again, and the
    campaign goes back in the queue. Their failed rows and traces are deleted (the delivery log
    keeps the history). Returns how many will be tried again."""
    with transaction.atomic():
        failed = MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.ERROR)
        refs = list(failed.values_list("mail_recipient_ref", flat=True))
        if not refs:
            return 0
        Mail.objects.filter(recipients__pk__in=[r for r in refs if r], state=MailState.EXCEPTION).delete()
        count = failed.delete()[0]
        Mailing.objects.filter(pk=mailing.pk).update(state=MailingState.IN_QUEUE, state_reason="")
        marketing_trigger()
    mailing.refresh_from_db()
    return count


def mailing_test_send(*, mailing: Mailing, email: str) -> Mail:
    """Odoo's test mailing: the campaign as its first recipient would get it, "[TEST]" before the
    subject, to one address, sent at once. No trace: it is not part of the campaign."""
    address = contact_email_clean(email, required=True)
    errors = mailing_errors(mailing)
    if errors:
        raise MailingNotReady(errors)
    return queue_test_mail(mailing, address)
