"""Reads of the marketing app: lists with their counters, members, a contact's subscriptions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q, QuerySet, Subquery

from chatter.models import FailureType, Message
from mailcore.models import Partner
from mailqueue.models import Mail, MailState
from marketing.models import Mailing, MailingList, MailingSubscription, MailingTrace, TraceFailure, TraceStatus

# A member a campaign can reach: has a valid address, has not opted out, is not blacklisted.
_REACHABLE = Q(subscriptions__opt_out=False) & ~Q(subscriptions__contact__email_normalized="") & Q(
    subscriptions__contact__is_blacklisted=False
)


@dataclass(frozen=True)
class ListCounts:
    """Odoo's ``mailing.list`` counters, as numbers and as percentages of the members."""

    contacts: int
    reachable: int
    opted_out: int
    blacklisted: int
    bounced: int

    def pct(self, value: int) -> float:
        return round(100.0 * value / self.contacts, 1) if self.contacts else 0.0

    @property
    def opted_out_pct(self) -> float:
        return self.pct(self.opted_out)

    @property
    def blacklisted_pct(self) -> float:
        return self.pct(self.blacklisted)

    @property
    def bounced_pct(self) -> float:
        return self.pct(self.bounced)


def mailing_lists_with_counts(*, include_archived: bool = False) -> QuerySet[MailingList]:
    """Lists with their counters in one query (annotations ``n_contacts``, ``n_reachable``, …)."""
    lists = MailingList.objects.all() if include_archived else MailingList.objects.filter(active=True)
    return lists.annotate(
        n_contacts=Count("subscriptions", distinct=True),
        n_reachable=Count("subscriptions", filter=_REACHABLE, distinct=True),
        n_opted_out=Count("subscriptions", filter=Q(subscriptions__opt_out=True), distinct=True),
        n_blacklisted=Count("subscriptions", filter=Q(subscriptions__contact__is_blacklisted=True), distinct=True),
        n_bounced=Count("subscriptions", filter=Q(subscriptions__contact__message_bounce__gt=0), distinct=True),
    ).order_by("name", "id")


def list_counts(mailing_list: MailingList) -> ListCounts:
    """The counters of one list (from the annotations when present, else one query)."""
    annotated = mailing_list
    if not hasattr(annotated, "n_contacts"):
        annotated = mailing_lists_with_counts(include_archived=True).get(pk=mailing_list.pk)
    return ListCounts(
        contacts=annotated.n_contacts,  # type: ignore[attr-defined]
        reachable=annotated.n_reachable,  # type: ignore[attr-defined]
        opted_out=annotated.n_opted_out,  # type: ignore[attr-defined]
        blacklisted=annotated.n_blacklisted,  # type: ignore[attr-defined]
        bounced=annotated.n_bounced,  # type: ignore[attr-defined]
    )


def list_members(*, mailing_list: MailingList, search: str = "") -> QuerySet[MailingSubscription]:
    """The subscriptions of a list with their contact, by contact name; ``search`` on name or address."""
    rows = MailingSubscription.objects.filter(mailing_list=mailing_list).select_related("contact")
    if search:
        rows = rows.filter(Q(contact__name__icontains=search) | Q(contact__email_normalized__icontains=search))
    return rows.order_by("contact__name", "contact_id")


def contact_subscriptions(contact: Partner) -> QuerySet[MailingSubscription]:
    """Every list a contact belongs to, opted out or not."""
    return MailingSubscription.objects.filter(contact=contact).select_related("mailing_list").order_by(
        "mailing_list__name", "id"
    )


@dataclass(frozen=True)
class ListChoice:
    """A list on the public preference page: whether the address receives it."""

    mailing_list: MailingList
    subscribed: bool


def preference_lists(email: str) -> list[ListChoice]:
    """The lists an address is on (opted in wins over opted out across its contacts, as in Odoo),
    then the other public lists it could join. Private lists it is not on are never shown."""
    states: dict[int, bool] = {}
    for list_id, opt_out in MailingSubscription.objects.filter(
        contact__email_normalized=email, mailing_list__active=True
    ).values_list("mailing_list_id", "opt_out"):
        states[list_id] = states.get(list_id, False) or not opt_out
    lists = MailingList.objects.filter(Q(pk__in=states) | Q(is_public=True), active=True).order_by("name", "id")
    return [ListChoice(ml, states.get(ml.pk, False)) for ml in lists]


def address_is_blacklisted(email: str) -> bool:
    return Partner.objects.filter(email_normalized=email, is_blacklisted=True).exists()


@dataclass(frozen=True)
class MailingStatistics:
    """A campaign's numbers (Odoo ``_compute_statistics``): counts from its traces and ratios."""

    expected: int
    scheduled: int
    canceled: int
    sent: int
    delivered: int
    opened: int
    clicked: int
    replied: int
    bounced: int
    bounced_hard: int
    failed: int
    excluded: dict[str, int]

    @property
    def excluded_labelled(self) -> list[tuple[str, str, int]]:
        """(failure type, its label, count) of the recipients left out, for people to read."""
        return excluded_labelled(self.excluded)

    @property
    def total(self) -> int:
        return (self.expected - self.canceled) or 1

    @property
    def total_no_error(self) -> int:
        return (self.expected - self.canceled - self.bounced - self.failed) or 1

    @property
    def received_ratio(self) -> float:
        return round(100.0 * self.delivered / self.total, 2)

    @property
    def bounced_ratio(self) -> float:
        return round(100.0 * self.bounced / self.total, 2)

    @property
    def opened_ratio(self) -> float:
        return round(100.0 * self.opened / self.total_no_error, 2)

    @property
    def replied_ratio(self) -> float:
        return round(100.0 * self.replied / self.total_no_error, 2)

    @property
    def clicks_ratio(self) -> float:
        return round(100.0 * self.clicked / self.total_no_error, 2)

    @property
    def progress(self) -> int:
        """Per cent of the traces no longer waiting in the queue."""
        return round(100 * (self.expected - self.scheduled) / self.expected) if self.expected else 0


def mailing_statistics(mailing: Mailing) -> MailingStatistics:
    """One aggregate over the campaign's traces, plus the excluded ones by reason."""
    traces = MailingTrace.objects.filter(mailing=mailing)
    numbers = traces.aggregate(
        expected=Count("id"),
        scheduled=Count("id", filter=Q(trace_status=TraceStatus.OUTGOING)),
        canceled=Count("id", filter=Q(trace_status=TraceStatus.CANCEL)),
        sent=Count("id", filter=Q(sent_datetime__isnull=False)),
        delivered=Count("id", filter=Q(trace_status__in=[TraceStatus.SENT, TraceStatus.OPEN, TraceStatus.REPLY])),
        opened=Count("id", filter=Q(trace_status__in=[TraceStatus.OPEN, TraceStatus.REPLY])),
        clicked=Count("id", filter=Q(links_click_datetime__isnull=False)),
        replied=Count("id", filter=Q(trace_status=TraceStatus.REPLY)),
        bounced=Count("id", filter=Q(trace_status=TraceStatus.BOUNCE)),
        bounced_hard=Count("id", filter=Q(trace_status=TraceStatus.BOUNCE, hard_bounce=True)),
        failed=Count("id", filter=Q(trace_status=TraceStatus.ERROR)),
    )
    excluded = dict(
        traces.filter(trace_status=TraceStatus.CANCEL)
        .values_list("failure_type")
        .annotate(n=Count("id"))
        .order_by("failure_type")
        .values_list("failure_type", "n")
    )
    return MailingStatistics(**numbers, excluded=excluded)


def mailings_with_progress() -> QuerySet[Mailing]:
    """Campaigns, newest first, with the counts their progress bar needs (one query)."""
    return Mailing.objects.annotate(
        n_expected=Count("traces"),
        n_scheduled=Count("traces", filter=Q(traces__trace_status=TraceStatus.OUTGOING)),
        n_handled=Count("traces", filter=~Q(traces__trace_status=TraceStatus.OUTGOING)),
    ).order_by("-created_at", "-id")


def mailing_waiting_for_quota(mailing: Mailing) -> datetime | None:
    """When the campaign's mail held back by the daily limit resumes (the reset time), or None."""
    waiting = MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.OUTGOING).values(
        "mail_recipient_ref"
    )
    return (
        Mail.objects.filter(
            state=MailState.OUTGOING, failure_type=FailureType.MAIL_QUOTA, recipients__pk__in=Subquery(waiting)
        )
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )


def mailing_message_id(mailing: Mailing) -> int | None:
    """The chatter message the campaign's queue rows carry (for the queue screen's filter), if sent."""
    return (
        Message.objects.filter(model=ContentType.objects.get_for_model(Mailing), res_id=mailing.pk)
        .values_list("pk", flat=True)
        .first()
    )


def excluded_labelled(excluded: dict[str, int]) -> list[tuple[str, str, int]]:
    labels = dict(TraceFailure.choices)
    return [(key, str(labels.get(key, key)), count) for key, count in excluded.items()]
