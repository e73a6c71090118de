"""Creating outgoing mail rows for e-mail notifications (the chatter → queue hand-off).

Sending lives in :mod:`mailqueue.sender`; queue actions (retry, send now, cancel) in
:mod:`mailqueue.actions`.
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext

from chatter.models import FAILED_STATUSES, Message, TrackingValue
from chatter.registry import EmailRecipient
from mailcore import conf as mailcore_conf
from mailqueue import conf
from mailqueue.models import Mail, MailRecipient, MailState, RecipientState
from mailqueue.sender.claim import lease_free_q


def _references(message: Message) -> tuple[str, str]:
    """(In-Reply-To, References) for a chatter message.

    References holds the parent's Message-ID and the message's own, as Odoo does, so a provider
    that rewrites Message-ID still leaves a trace. Unlike Odoo we also set In-Reply-To.
    """
    parent_id = message.parent.message_id if message.parent_id and message.parent else ""
    references = " ".join(filter(None, [parent_id, message.message_id]))
    return parent_id, references


def render_notification_body(
    message: Message, *, lang: str | None = None, tracking_values: list[TrackingValue] | None = None
) -> str:
    """The HTML sent by e-mail: the message body, its tracked changes (old → new), a link to its record.

    As Odoo's notification layout: a tracked change is shown in the e-mail, not only in the
    chatter. The text part is derived from this HTML when the message is built. The layout is
    rendered in ``lang`` (the recipients' language; the active one when None); pass the message's
    ``tracking_values`` when rendering it in several languages, so they are read once.
    """
    url = ""
    if message.model_id and message.res_id:
        url = f"{mailcore_conf.base_url()}/records/{message.model_id}/{message.res_id}/"
    if tracking_values is None:
        tracking_values = list(message.tracking_values.all())
    with translation.override(lang or translation.get_language()):
        return render_to_string(
            "mailqueue/mail/notification_body.html",
            {"body": message.body, "tracking_values": tracking_values, "url": url, "record_name": message.record_name},
        ).strip()


def _by_language(recipients: list[EmailRecipient]) -> dict[str, list[EmailRecipient]]:
    """Recipients grouped by the language of their mail (empty: the company's), in first-seen order."""
    default = mailcore_conf.default_language()
    groups: dict[str, list[EmailRecipient]] = {}
    for recipient in recipients:
        groups.setdefault(recipient.lang or default, []).append(recipient)
    return groups


def _detach_deliveries(deliveries: QuerySet[MailRecipient]) -> None:
    """Take these unsent deliveries off their queue rows, then settle the rows they leave.

    The rows are locked first, in id order, as Retry locks them: a Retry and the resend dialog on
    the same row run one after the other, never interleaved.
    """
    mail_ids = sorted(set(deliveries.values_list("mail_id", flat=True)))
    if not mail_ids:
        return
    list(Mail.objects.select_for_update().filter(pk__in=mail_ids).order_by("pk").values_list("pk", flat=True))
    deliveries.delete()
    mail_settle(mail_ids=mail_ids)


def mail_settle(*, mail_ids: list[int]) -> int:
    """A row's state follows its recipients: a row left with nothing to send or retry is settled.

    Applies to failed rows and to outgoing rows no worker holds, once none of their recipients is
    pending or failed (the rest were served, cancelled, or taken off the row by the resend dialog).
    Such a row has no failure left: it is deleted when it was to be auto-deleted (the delivery log
    keeps its history), else it becomes ``sent`` when a recipient was served and ``cancel`` when
    none was. Rows cancelled with Cancel Email stay cancelled. Returns how many rows were settled.
    """
    now = timezone.now()
    settled = Mail.objects.filter(pk__in=mail_ids).filter(
        Q(state=MailState.EXCEPTION) | (Q(state=MailState.OUTGOING) & lease_free_q(now))
    ).exclude(recipients__state__in=[RecipientState.PENDING, RecipientState.EXCEPTION])
    _total, per_model = settled.filter(auto_delete=True).delete()
    count = per_model.get(Mail._meta.label, 0)
    cleared: dict[str, object] = {
        "failure_type": "",
        "failure_reason": "",
        "next_attempt_at": None,
        "first_failure_at": None,
    }
    served = Exists(MailRecipient.objects.filter(mail=OuterRef("pk"), state=RecipientState.SENT))
    count += settled.filter(served).update(state=MailState.SENT, **cleared)
    count += settled.update(state=MailState.CANCEL, **cleared)
    return count


def mail_detach_failed_notifications(*, notification_ids: list[int]) -> None:
    """The resend dialog settled these failed notifications: no queue row may send them any more.

    Their unsent deliveries leave every row, whether the dialog cancels them (Ignore all, toggled
    off) or resends them through a new row (Odoo's ``resend_existing``); rows left without a
    failure are settled. Only notifications still failed are taken: one a concurrent Retry
    already put back in the queue stays there.
    """
    _detach_deliveries(
        MailRecipient.objects.filter(
            notification_id__in=notification_ids,
            notification__notification_status__in=FAILED_STATUSES,
        ).exclude(state=RecipientState.SENT)
    )


def mail_create_for_notifications(
    *,
    message: Message,
    recipients: list[EmailRecipient],
    urgent: bool,
    auto_delete: bool,
    scheduled_date: dt.datetime | None,
    resend_existing: bool = False,
) -> list[Mail]:
    """Odoo ``_notify_thread_by_email``: rows of up to 50 recipients, each its own SMTP message.

    As Odoo does, the layout is rendered once per recipient language and each row holds recipients
    of one language, so mixed-language followers cost one render per language, not per recipient.
    Urgent rows are sent by a Celery task right after commit; the others (and any scheduled in
    the future) wait for the Email Queue Manager, which is triggered for their time.
    """
    if resend_existing:
        # Odoo's ``resend_existing``: the failed deliveries of these notifications move to the new
        # row; the old one must not keep them, or a later Retry on it would send them twice.
        _detach_deliveries(
            MailRecipient.objects.filter(notification_id__in=[r.notification_id for r in recipients]).exclude(
                state=RecipientState.SENT
            )
        )
    in_reply_to, references = _references(message)
    headers = {}
    if message.model_id and message.res_id:
        headers["X-Mailcore-Objects"] = f"{message.model_id}-{message.res_id}"
    batch = conf.recipients_per_mail()
    now = timezone.now()
    tracking_values = list(message.tracking_values.all())
    rows: list[Mail] = []
    row_recipients: list[list[EmailRecipient]] = []
    for lang, group in _by_language(recipients).items():
        with translation.override(lang):
            subject = message.subject or message.record_name or gettext("Notification")
        body_html = render_notification_body(message, lang=lang, tracking_values=tracking_values)
        for start in range(0, len(group), batch):
            rows.append(
                Mail(
                    message=message,
                    is_notification=True,
                    subject=subject.replace("\r", " ").replace("\n", " "),
                    email_from=message.email_from,
                    reply_to=message.reply_to,
                    body_html=body_html,
                    headers=headers,
                    references=references,
                    in_reply_to=in_reply_to,
                    scheduled_date=scheduled_date,
                    auto_delete=auto_delete,
                    urgent=urgent,
                    mail_server=message.mail_server,
                    created_at=now,
                )
            )
            row_recipients.append(group[start : start + batch])
    mails = Mail.objects.bulk_create(rows)
    MailRecipient.objects.bulk_create(
        MailRecipient(mail=mail, partner_id=r.partner_id, notification_id=r.notification_id)
        for mail, members in zip(mails, row_recipients, strict=True)
        for r in members
    )
    mail_ids = [m.pk for m in mails]
    from mailqueue import dispatch

    if urgent and (scheduled_date is None or scheduled_date <= now):
        transaction.on_commit(lambda: dispatch.send_now_async(mail_ids))
    else:
        transaction.on_commit(lambda: dispatch.queue_trigger(at=scheduled_date))
    return mails
