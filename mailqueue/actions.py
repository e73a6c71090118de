"""The queue's buttons (Odoo's Retry, Send Now, Cancel Email on ``mail.mail``), as services.

The admin, the API and the queue screen call these; each is one guarded, conditional write on
the rows in the state the button applies to, so a click on rows in another state does nothing
(Odoo) and a row a worker is sending right now is never changed underneath it.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chatter.models import NotificationStatus
from chatter.notification_status import notification_set_status
from mailqueue import dispatch
from mailqueue.models import Mail, MailRecipient, MailState, RecipientState
from mailqueue.sender import SendReport, send_mails_now
from mailqueue.sender.claim import lease_free_q

# Notifications Retry puts back to ready: waiting, failed, or cancelled with Cancel Email. A bounced
# one is the resend dialog's to resend (its delivery was accepted, then returned).
_RETRYABLE = (NotificationStatus.READY, NotificationStatus.EXCEPTION, NotificationStatus.CANCELED)
# The deliveries Retry sends again: each with its notification in the matching state. A failed
# delivery whose notification was cancelled is a failure someone chose to ignore: never resent.
_RETRYABLE_DELIVERY = (
    Q(notification=None)
    | Q(state=RecipientState.PENDING, notification__notification_status=NotificationStatus.READY)
    | Q(
        state=RecipientState.EXCEPTION,
        notification__notification_status__in=[NotificationStatus.EXCEPTION, NotificationStatus.READY],
    )
    | Q(
        state=RecipientState.CANCEL,
        notification__notification_status__in=[NotificationStatus.CANCELED, NotificationStatus.READY],
    )
)


def _ring_queue() -> None:
    """Ask the queue cron to run soon (after commit), so a retried row does not wait an hour."""
    dispatch.queue_trigger(at=None)


@transaction.atomic
def mail_retry(*, mail_ids: Iterable[int]) -> int:
    """Odoo ``action_retry``: failed or cancelled rows go back to ``outgoing``. Returns the count.

    Also applies to outgoing rows waiting for a retry or for the quota reset (their next attempt
    time is cleared), so Retry always means "try again now". Attempts and failures are reset;
    recipients already served stay ``sent`` (never resent), the others become pending again
    with their notifications back to ``ready``. A recipient the resend dialog settled is no longer
    on any row, and one whose notification bounced waits for that dialog: a row with nothing else
    to send is not retried.
    """
    now = timezone.now()
    waiting = Q(state=MailState.OUTGOING, next_attempt_at__isnull=False) & lease_free_q(now)
    locked = list(
        Mail.objects.select_for_update()
        .filter(Q(state__in=[MailState.EXCEPTION, MailState.CANCEL]) | waiting, pk__in=list(mail_ids))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not locked:
        return 0
    recipients = (
        MailRecipient.objects.filter(mail_id__in=locked)
        .exclude(state=RecipientState.SENT)
        .filter(_RETRYABLE_DELIVERY)
    )
    found = list(recipients.values_list("pk", "mail_id", "notification_id"))
    ids = sorted({mail_id for _pk, mail_id, _notification_id in found})
    if not ids:
        return 0
    Mail.objects.filter(pk__in=ids).update(
        state=MailState.OUTGOING,
        failure_type="",
        failure_reason="",
        attempt_count=0,
        next_attempt_at=None,
        first_failure_at=None,  # a Retry starts a new retry window
        lease_until=None,
        lease_owner="",
    )
    MailRecipient.objects.filter(pk__in=[pk for pk, _mail_id, _notification_id in found]).update(
        state=RecipientState.PENDING, failure_type="", failure_reason="", smtp_response=""
    )
    notification_set_status(
        notifications=[n for _pk, _mail_id, n in found if n is not None],
        status=NotificationStatus.READY,
        only_from=_RETRYABLE,
    )
    _ring_queue()
    return len(ids)


def mail_send_now(*, mail_ids: Iterable[int]) -> SendReport:
    """Odoo's Send Now (``send``): send these outgoing rows immediately, in this process.

    Ignores their scheduled date and next attempt time. Rows in another state are not sent
    (Odoo: put a failed row back with Retry first); rows a worker is sending now are skipped.
    The daily quota still applies.
    """
    report = send_mails_now(mail_ids=list(mail_ids))
    if report.retried:
        dispatch.queue_trigger_next_due()  # the temporary failures retry at their next attempt time
    return report


@transaction.atomic
def mail_cancel(*, mail_ids: Iterable[int]) -> int:
    """Odoo ``cancel``: outgoing rows become ``cancel``; their waiting notifications ``canceled``.

    Recipients already served stay ``sent``. Rows a worker is sending right now (live lease)
    are left alone: it would still send to the recipients it loaded. Returns how many rows were
    cancelled.
    """
    now = timezone.now()
    ids = list(
        Mail.objects.select_for_update()
        .filter(lease_free_q(now), pk__in=list(mail_ids), state=MailState.OUTGOING)
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    Mail.objects.filter(pk__in=ids).update(state=MailState.CANCEL, next_attempt_at=None)
    recipients = MailRecipient.objects.filter(mail_id__in=ids, state=RecipientState.PENDING)
    notification_ids = list(recipients.exclude(notification=None).values_list("notification_id", flat=True))
    recipients.update(state=RecipientState.CANCEL)
    # A recipient waiting for a retry carried the last temporary failure: cancelled, it has none.
    notification_set_status(
        notifications=notification_ids,
        status=NotificationStatus.CANCELED,
        failure_type="",
        failure_reason="",
        only_from=[NotificationStatus.READY],
    )
    return len(ids)
