"""What a bounce does (Odoo ``_routing_handle_bounce``).

Attribution: the signed ``bounce+<token>`` Return-Path names the delivery exactly; otherwise the
original is found by the Message-ID headers of the returned message, then by the bounce's own
In-Reply-To/References. Effects per failed recipient: its notification turns ``bounce`` /
``mail_bounce`` with the diagnostic as reason (the red envelope) unless it was cancelled; a hard
bounce adds one to the contact's ``message_bounce``; five hard bounces spread over more than a
week within 13 weeks blacklist the address. Delay notices are recorded and change nothing; auto-replies are no
bounces; a feedback (abuse) report blacklists the address.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db.models import Max, Min
from django.utils import timezone

from bounces import conf
from bounces.dsn.types import UNREADABLE_DIAGNOSTIC
from bounces.models import BounceAction, BounceEvent, BounceReason, InboundMessage
from bounces.parsing import parse_headers
from bounces.registry import BouncedDelivery, bounce_listeners_notify
from chatter.models import FailureType, Message, Notification, NotificationKind, NotificationStatus
from chatter.notification_status import notification_set_status, notification_transition_refusal
from mailcore.addresses import email_normalize
from mailcore.contacts import contact_blacklist_add, contact_bounce_increment, contact_find
from mailcore.models import Partner

logger = logging.getLogger(__name__)


def partner_blacklist_check(*, email: str, now: dt.datetime | None = None) -> bool:
    """Blacklist ``email`` when its hard bounces reach the limit, spread over more than the minimum.

    Odoo mass mailing's auto-blacklist: at least 5 bounces in the last 13 weeks whose first and
    last are more than a week apart (all three are settings). Returns True when it blacklisted.
    """
    now = now or timezone.now()
    since = now - dt.timedelta(weeks=conf.blacklist_window_weeks())
    events = BounceEvent.objects.filter(email=email, hard=True, action=BounceAction.FAILED, date__gte=since)
    stats = events.aggregate(first=Min("date"), last=Max("date"))
    if events.count() < conf.blacklist_bounce_limit() or stats["first"] is None or stats["last"] is None:
        return False
    if stats["last"] - stats["first"] <= dt.timedelta(days=conf.blacklist_min_spread_days()):
        return False
    if contact_blacklist_add(email=email):
        logger.info("%s blacklisted: too many hard bounces", email)
    return True


@dataclass
class _Original:
    message: Message | None = None
    notification: Notification | None = None
    email: str = ""
    partner: Partner | None = None
    attributed_by: str = ""


def _by_token(recipient_id: int | None) -> _Original | None:
    if recipient_id is None:
        return None
    from mailqueue.models import MailRecipient

    delivery = (
        MailRecipient.objects.select_related("mail__message", "notification", "partner").filter(pk=recipient_id).first()
    )
    if delivery is None:
        return _by_delivery_log(recipient_id)
    partner = delivery.partner
    email = (partner.email_normalized if partner is not None else "") or email_normalize(delivery.email) or ""
    return _Original(
        message=delivery.mail.message,
        notification=delivery.notification,
        email=email,
        partner=partner,
        attributed_by="token",
    )


def _by_delivery_log(recipient_id: int) -> _Original | None:
    """The delivery named by the token, from the log kept after the row was auto-deleted."""
    from mailqueue.models import DeliveryLog

    log = (
        DeliveryLog.objects.select_related("chatter_message", "notification__res_partner")
        .filter(recipient_ref=recipient_id)
        .order_by("-date", "-id")
        .first()
    )
    if log is None:
        return None
    notification = log.notification
    partner = notification.res_partner if notification is not None else None
    email = (partner.email_normalized if partner is not None else "") or email_normalize(log.recipient) or ""
    return _Original(
        message=log.chatter_message,
        notification=notification,
        email=email,
        partner=partner,
        attributed_by="token",
    )


def _original_message(ids: list[str]) -> Message | None:
    ids = [i for i in dict.fromkeys(ids) if i]
    if not ids:
        return None
    return Message.objects.filter(message_id__in=ids).order_by("-date", "-id").first()


def _normalize_id(value: str | None) -> str:
    value = (value or "").strip()
    if value and not value.startswith("<"):
        value = f"<{value}>"
    return value


def _notification_for(message: Message, email: str) -> Notification | None:
    """The e-mail notification of ``message`` to ``email``; Odoo's single-recipient fallback."""
    notifications = Notification.objects.filter(message=message, notification_type=NotificationKind.EMAIL)
    if email:
        found = notifications.filter(res_partner__email_normalized=email).select_related("res_partner").first()
        if found is not None:
            return found
    # Odoo: the original found but no contact matched, and it had exactly one recipient: that one.
    only = list(notifications.select_related("res_partner")[:2])
    return only[0] if len(only) == 1 else None


def bounce_process(*, inbound: InboundMessage, raw: bytes, token_recipient_id: int | None) -> str:
    """Apply one bounce mail: attribute it, record the events, turn envelopes red. Returns a summary."""
    from bounces.dsn import BouncedRecipient, parse_bounce

    report = parse_bounce(raw)
    by_token = _by_token(token_recipient_id)

    if report.is_feedback_report:
        email = email_normalize(report.feedback_email) or (by_token.email if by_token else "")
        if not email:
            return "Feedback report without an address: nothing to do."
        BounceEvent.objects.create(
            email=email,
            partner=contact_find(email=email),
            action=BounceAction.COMPLAINT,
            reason=BounceReason.ABUSE,
            hard=False,
            diagnostic="Feedback (abuse) report",
            attributed_by=by_token.attributed_by if by_token else "",
            inbound=inbound,
            message=by_token.message if by_token else None,
        )
        contact_blacklist_add(email=email)
        return f"Feedback report: {email} blacklisted."
    if report.is_auto_reply and not report.bounced:
        return "Auto-reply, not a bounce: nothing to do."

    recipients = list(report.bounced)
    if not recipients and by_token is not None and report.is_bounce and by_token.email:
        # The Return-Path token names the delivery even when the report says nothing we can read.
        recipients = [
            BouncedRecipient(
                email=by_token.email,
                status=None,
                action="failed",
                reason="other",
                hard=False,
                diagnostic=UNREADABLE_DIAGNOSTIC,
            )
        ]
    if not recipients:
        return "Not a delivery failure report: nothing to do."

    # The original message: the token, else the returned message's ids, else the bounce's threading.
    original_message = by_token.message if by_token else None
    attributed_by = "token" if by_token else ""
    if original_message is None:
        ids = [_normalize_id(report.original_message_id)]
        ids += [_normalize_id(v) for k, v in report.original_headers.items() if k.lower() == "x-mailcore-message-id"]
        original_message = _original_message(ids)
        attributed_by = "message_id" if original_message else ""
    if original_message is None:
        facts = parse_headers(raw)
        refs = [
            *facts.in_reply_to,
            *reversed(facts.references),
            *[_normalize_id(r) for r in report.original_references],
        ]
        original_message = _original_message(refs)
        attributed_by = "references" if original_message else ""

    # What the report says the original was, for listeners that know mail the chatter does not.
    ids_of_original = [_normalize_id(report.original_message_id)] + [
        _normalize_id(v) for k, v in report.original_headers.items() if k.lower() == "x-mailcore-message-id"
    ]
    summary: list[str] = []
    for recipient in recipients:
        email = email_normalize(recipient.email) or recipient.email.lower()
        notification: Notification | None = None
        if by_token is not None and (len(recipients) == 1 or email == by_token.email):
            # The token is exact: the delivery it names is the one that bounced (even when the
            # report names a forwarding address instead).
            notification = by_token.notification
            email = by_token.email or email
        elif original_message is not None:
            notification = _notification_for(original_message, email)
            if notification is not None and not email:
                email = notification.res_partner.email_normalized
        partner = (
            notification.res_partner
            if notification is not None
            else contact_find(email=email)
        )
        action = BounceAction.DELAYED if recipient.action == "delayed" else BounceAction.FAILED
        reason = recipient.reason if recipient.reason in BounceReason.values else BounceReason.OTHER
        BounceEvent.objects.create(
            email=email[:255],
            partner=partner,
            action=action,
            status=(recipient.status or "")[:16],
            reason=reason,
            hard=bool(recipient.hard) and action == BounceAction.FAILED,
            diagnostic=recipient.diagnostic,
            attributed_by=attributed_by,
            inbound=inbound,
            message=original_message,
            notification=notification,
        )
        if action == BounceAction.DELAYED:
            summary.append(f"{email}: delayed ({recipient.status or 'no status'}), nothing changed.")
            continue
        outcome = ", no notification found."
        if notification is not None:
            failure_reason = recipient.diagnostic or f"{recipient.status or ''} {reason}".strip()
            # Conditional on its current status: a cancelled notification stays cancelled.
            if notification_set_status(
                notifications=[notification.pk],
                status=NotificationStatus.BOUNCE,
                failure_type=FailureType.MAIL_BOUNCE,
                failure_reason=failure_reason,
            ):
                outcome = f", notification {notification.pk} bounced."
            else:
                current = Notification.objects.values_list("notification_status", flat=True).get(pk=notification.pk)
                why = notification_transition_refusal(current, NotificationStatus.BOUNCE)
                outcome = f", notification {notification.pk} left {current}: {why}."
        bounce_listeners_notify(
            BouncedDelivery(
                recipient_id=token_recipient_id if by_token is not None else None,
                message_ids=tuple(i for i in ids_of_original if i),
                email=email,
                hard=bool(recipient.hard),
                diagnostic=recipient.diagnostic or f"{recipient.status or ''} {reason}".strip(),
            )
        )
        if recipient.hard and email:
            contact_bounce_increment(email=email)
            partner_blacklist_check(email=email)
        summary.append(
            f"{email}: {'hard' if recipient.hard else 'soft'} bounce {recipient.status or ''} ({reason})"
            + outcome
        )
    return " ".join(summary)
