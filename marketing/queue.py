"""The marketing queue (Odoo's "Mail Marketing: Process queue" cron): campaigns to queue rows.

Campaigns due (in queue or sending, their date reached) are processed **oldest first by creation
date**. Each one goes in batches; in one transaction a batch gives every remaining recipient a
trace, and the ones to mail a personalised row in the outgoing queue (which the Email Queue
Manager then sends like any bulk mail, after person-to-person mail). "Remaining" means "no trace
yet", so a worker killed mid-batch or a run out of time never sends twice and never skips anyone:
the next run carries on where the last committed batch ended.

A campaign that cannot be rendered or queued is marked **failed** with the reason, and the queue
goes on with the next one: one broken campaign never holds up the others (Odoo's loop stops at
the first campaign that raises).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from bounces.registry import BouncedDelivery
from chatter.models import Message, MessageType
from chatter.services import alias_domain_default, thread_reply_to_address
from mailcore import conf as mailcore_conf
from mailcore.addresses import email_normalize, make_message_id
from mailcore.models import Partner
from mailqueue import dispatch
from mailqueue.models import Mail, MailRecipient, MailState
from mailqueue.registry import DeliveryOutcome
from mailqueue.sender.claim import lease_free_q
from marketing import conf, rendering, tracking
from marketing.models import (
    Mailing,
    MailingState,
    MailingSubscription,
    MailingTrace,
    MailingTranslation,
    ReplyToMode,
    TraceFailure,
    TraceStatus,
)
from marketing.recipients import Candidate, exclusion, target_queryset
from marketing.unsubscribe import list_unsubscribe_headers, unsubscribe_urls
from marketing.validation import mailing_errors

logger = logging.getLogger(__name__)

MARKETING_CRON = gettext_noop("Mail Marketing: Process queue")
MARKETING_TASK = "marketing.tasks.process_marketing_queue_task"

# Translated when each mail is rendered, in the language active then.
FOOTER = '<p style="font-size:12px;color:#6b7280;margin-top:24px">{links}</p>'
FOOTER_LINKS = gettext_lazy(
    '<a href="%(unsubscribe)s">Unsubscribe</a> · <a href="%(preferences)s">Manage my subscriptions</a>'
)


def marketing_trigger(at: Any = None) -> None:
    """Ask for a run of the marketing cron at ``at`` (or now), after the current transaction commits."""
    dispatch.cron_trigger(MARKETING_CRON, MARKETING_TASK, at)


@dataclass(frozen=True)
class MarketingRunResult:
    """Campaigns finished by this run, and campaigns still due (the cron re-triggers itself)."""

    done: int
    remaining: int
    failed: int = 0


def due_mailings(now: Any = None) -> QuerySet[Mailing]:
    """Campaigns to process now, oldest first by creation date."""
    now = now or timezone.now()
    return (
        Mailing.objects.filter(state__in=[MailingState.IN_QUEUE, MailingState.SENDING])
        .filter(Q(schedule_date__isnull=True) | Q(schedule_date__lte=now))
        .order_by("created_at", "id")
    )


def process_marketing_queue(*, time_budget: float) -> MarketingRunResult:
    """One run of the cron: campaign after campaign, batch after batch, until the budget is spent."""
    deadline = time.monotonic() + time_budget
    done = failed = 0
    for mailing_id in list(due_mailings().values_list("id", flat=True)):
        if time.monotonic() >= deadline:
            break
        mailing = Mailing.objects.get(pk=mailing_id)
        try:
            if mailing_process(mailing, deadline=deadline):
                done += 1
        except Exception as exc:
            logger.exception("Campaign %s failed", mailing_id)
            if mailing_fail(mailing=mailing, reason=f"{type(exc).__name__}: {exc}"):
                failed += 1
    return MarketingRunResult(done=done, remaining=due_mailings().count(), failed=failed)


def mailing_fail(*, mailing: Mailing, reason: str) -> bool:
    """Mark a campaign failed with the reason shown on its page (ours; Odoo has no such state)."""
    return bool(
        Mailing.objects.filter(pk=mailing.pk, state__in=[MailingState.IN_QUEUE, MailingState.SENDING]).update(
            state=MailingState.FAILED, state_reason=reason[:5000]
        )
    )


def mailing_process(mailing: Mailing, *, deadline: float) -> bool:
    """Queue a campaign's remaining recipients in batches; True when it is done.

    Raises when the campaign cannot be rendered or queued (the caller marks it failed).
    """
    problems = mailing_errors(mailing)
    if problems:
        raise ValueError(" ".join(problems))
    Mailing.objects.filter(pk=mailing.pk, state=MailingState.IN_QUEUE).update(state=MailingState.SENDING)
    while time.monotonic() < deadline:
        with transaction.atomic():
            # One worker per campaign at a time; another one skips it rather than waiting.
            locked = (
                Mailing.objects.select_for_update(skip_locked=True)
                .filter(pk=mailing.pk, state=MailingState.SENDING)
                .first()
            )
            if locked is None:
                return False  # cancelled, paused, or being processed elsewhere
            queued = _queue_batch(locked, conf.batch_size())
            if queued == 0:
                Mailing.objects.filter(pk=mailing.pk, state=MailingState.SENDING).update(
                    state=MailingState.DONE, sent_date=timezone.now(), state_reason=""
                )
                return True
    return False


# --- one batch ------------------------------------------------------------------------------------
def _remaining(mailing: Mailing, size: int) -> list[Candidate]:
    """The next recipients without a trace, in a stable order (contact id, or record id)."""
    if mailing.target_model_id is None:
        list_ids = list(mailing.mailing_lists.values_list("id", flat=True))
        member = MailingSubscription.objects.filter(contact=OuterRef("pk"), mailing_list_id__in=list_ids)
        traced = MailingTrace.objects.filter(mailing=mailing, model__isnull=True, contact=OuterRef("pk"))
        rows = (
            Partner.objects.filter(Exists(member))
            .filter(~Exists(traced))
            .order_by("id")
            .values_list("id", "email", "is_blacklisted")[:size]
        )
        return [Candidate(contact_id, email, blacklisted) for contact_id, email, blacklisted in rows]
    records = target_queryset(mailing)
    field = records.model.mail_partner_field
    content_type = ContentType.objects.get_for_model(records.model)
    traced = MailingTrace.objects.filter(mailing=mailing, model=content_type, res_id=OuterRef("pk"))
    fields = ("pk", field, f"{field}__email", f"{field}__is_blacklisted")
    records_left = records.filter(~Exists(traced)).order_by("pk").values_list(*fields)[:size]
    return [
        Candidate(contact_id, email or "", bool(blacklisted), content_type.pk, pk)
        for pk, contact_id, email, blacklisted in records_left
    ]


def _opted_out(mailing: Mailing, emails: Iterable[str]) -> set[str]:
    if mailing.target_model_id is not None:
        return set()
    rows = MailingSubscription.objects.filter(
        mailing_list__in=mailing.mailing_lists.all(), contact__email_normalized__in=list(emails)
    ).values_list("contact__email_normalized", "opt_out")
    opted_in = {email for email, opt_out in rows if not opt_out}
    return {email for email, opt_out in rows if opt_out} - opted_in


def campaign_message(mailing: Mailing) -> Message:
    """The chatter message the campaign's rows hang on (one per campaign, made when it first sends)."""
    content_type = ContentType.objects.get_for_model(Mailing)
    message, _created = Message.objects.get_or_create(
        model=content_type,
        res_id=mailing.pk,
        message_type=MessageType.EMAIL,
        defaults={
            "record_name": mailing.subject[:255],
            "subject": mailing.subject,
            "email_from": mailing.email_from,
            "body": mailing.body_html,
            "mail_server": mailing.mail_server,
            "record_alias_domain": alias_domain_default(),
        },
    )
    return message


def _queue_batch(mailing: Mailing, size: int) -> int:
    """Trace up to ``size`` remaining recipients and queue a row for each one to mail. Returns how
    many recipients were handled (0: none left)."""
    candidates = _remaining(mailing, size)
    if not candidates:
        return 0
    normalized = [email_normalize(c.email) for c in candidates]
    emails = {e for e in normalized if e}
    opted_out = _opted_out(mailing, emails)
    seen = set(MailingTrace.objects.filter(mailing=mailing, email__in=list(emails)).values_list("email", flat=True))
    traces = []
    for candidate in candidates:
        address, reason = exclusion(candidate, opted_out=opted_out, seen=seen)
        traces.append(
            MailingTrace(
                mailing=mailing,
                contact_id=candidate.contact_id,
                model_id=candidate.model_id,
                res_id=candidate.res_id,
                email=address[:255],
                trace_status=TraceStatus.CANCEL if reason else TraceStatus.OUTGOING,
                failure_type=reason or "",
            )
        )
    for trace in traces:
        if trace.trace_status == TraceStatus.OUTGOING:
            trace.message_id = make_message_id(f"mailing-{mailing.pk}")
    MailingTrace.objects.bulk_create(traces)
    to_mail = [t for t in traces if t.trace_status == TraceStatus.OUTGOING]
    if to_mail:
        _queue_rows(mailing, to_mail)
    return len(candidates)


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    body_html: str
    headers: dict[str, str]
    reply_to: str


def render_for(
    mailing: Mailing,
    *,
    contact: Partner | None,
    email: str,
    list_ids: list[int],
    trace_id: int | None,
    reply_to: str,
    variants: Mapping[str, MailingTranslation] | None = None,
) -> RenderedMail:
    """One recipient's mail: placeholders, the unsubscribe links and headers, tracking (when the
    campaign counts opens and clicks and the mail has a trace). The text is the variant in the
    contact's language if the campaign has one (``variants`` by language, else read here), and the
    footer speaks that language too."""
    lang = contact.lang if contact is not None else ""
    if variants is None:
        variants = mailing_variants(mailing)
    variant = variants.get(lang)
    with translation.override(lang) if lang else contextlib.nullcontext():
        return _render(
            mailing,
            subject=(variant and variant.subject) or mailing.subject,
            preview=(variant and variant.preview) or mailing.preview,
            body_html=(variant and variant.body_html) or mailing.body_html,
            contact=contact,
            email=email,
            list_ids=list_ids,
            trace_id=trace_id,
            reply_to=reply_to,
        )


def mailing_variants(mailing: Mailing) -> dict[str, MailingTranslation]:
    """The campaign's text in other languages, by language code."""
    return {variant.lang: variant for variant in mailing.translations.all()} if mailing.pk else {}


def _render(
    mailing: Mailing,
    *,
    subject: str,
    preview: str,
    body_html: str,
    contact: Partner | None,
    email: str,
    list_ids: list[int],
    trace_id: int | None,
    reply_to: str,
) -> RenderedMail:
    base_url = mailcore_conf.base_url()
    urls = unsubscribe_urls(base_url=base_url, email=email, list_ids=list_ids)
    names = contact.name.split() if contact is not None else []
    values = {
        "contact": {"name": contact.name if contact else "", "first_name": names[0] if names else "", "email": email},
        "campaign": {"subject": subject},
        "unsubscribe": {"url": urls["unsubscribe"]},
        "preferences": {"url": urls["preferences"]},
    }
    body = rendering.render(body_html, values, as_html=True)
    if not rendering.uses(body_html, "unsubscribe", "url"):
        body += FOOTER.format(
            links=FOOTER_LINKS % {"unsubscribe": urls["unsubscribe"], "preferences": urls["preferences"]}
        )
    if preview:
        preview = rendering.render(preview, values, as_html=True)
        # Shown by mail programs after the subject, hidden in the message itself.
        body = f'<div style="display:none;max-height:0;overflow:hidden">{preview}</div>' + body
    if trace_id is not None and mailing.track_clicks:
        body = tracking.track_links(
            body, trace_id=trace_id, base_url=base_url, keep=(urls["unsubscribe"], urls["preferences"])
        )
    if trace_id is not None and mailing.track_opens:
        body += tracking.open_pixel(trace_id=trace_id, base_url=base_url)
    headers = {
        **list_unsubscribe_headers(urls),
        # Odoo's mass-mail headers: a list message, and no out-of-office replies wanted.
        "Precedence": "list",
        "X-Auto-Response-Suppress": "OOF",
    }
    subject = rendering.render(subject, values, as_html=False).replace("\r", " ").replace("\n", " ")
    return RenderedMail(subject=subject[:998], body_html=body, headers=headers, reply_to=reply_to)


def _list_ids(mailing: Mailing) -> list[int]:
    return list(mailing.mailing_lists.values_list("id", flat=True)) if mailing.target_model_id is None else []


def _queue_rows(mailing: Mailing, traces: list[MailingTrace]) -> None:
    message = campaign_message(mailing)
    list_ids = _list_ids(mailing)
    contacts = {p.pk: p for p in Partner.objects.filter(pk__in=[t.contact_id for t in traces])}
    alias_domain = alias_domain_default()
    record_type = mailing.target_model if mailing.reply_to_mode == ReplyToMode.UPDATE else None
    mails = []
    variants = mailing_variants(mailing)
    for trace in traces:
        reply_to = mailing.reply_to if mailing.reply_to_mode == ReplyToMode.NEW else ""
        if record_type is not None and trace.res_id is not None:
            reply_to = thread_reply_to_address(model=record_type, res_id=trace.res_id, alias_domain=alias_domain)
        rendered = render_for(
            mailing,
            contact=contacts.get(trace.contact_id) if trace.contact_id else None,
            email=trace.email,
            list_ids=list_ids,
            trace_id=trace.pk,
            reply_to=reply_to,
            variants=variants,
        )
        mails.append(_mail_row(mailing, message, rendered, own_message_id=trace.message_id, mass=True))
    Mail.objects.bulk_create(mails)
    recipients = MailRecipient.objects.bulk_create(
        MailRecipient(mail=mail, partner_id=trace.contact_id) for mail, trace in zip(mails, traces, strict=True)
    )
    for trace, recipient in zip(traces, recipients, strict=True):
        trace.mail_recipient_ref = recipient.pk
    MailingTrace.objects.bulk_update(traces, ["mail_recipient_ref"])
    dispatch.queue_trigger()


def _mail_row(mailing: Mailing, message: Message, rendered: RenderedMail, *, own_message_id: str, mass: bool) -> Mail:
    return Mail(
        message=message,
        is_notification=True,  # keeps the campaign's message when the row is auto-deleted
        is_mass_mail=mass,
        own_message_id=own_message_id,
        subject=rendered.subject,
        email_from=mailing.email_from,
        reply_to=rendered.reply_to,
        body_html=rendered.body_html,
        headers=rendered.headers,
        auto_delete=True,
        urgent=not mass,  # bulk waits for the Email Queue Manager, after person-to-person mail
        mail_server=mailing.mail_server,
    )


def queue_test_mail(mailing: Mailing, address: str) -> Mail:
    """A test of the campaign to ``address``, rendered for its first recipient, sent at once."""
    first = next(iter(_remaining(mailing, 1)), None)
    contact = Partner.objects.filter(pk=first.contact_id).first() if first and first.contact_id else None
    rendered = render_for(
        mailing,
        contact=contact,
        email=(first.email if first else "") or address,
        list_ids=_list_ids(mailing),
        trace_id=None,
        reply_to=mailing.reply_to if mailing.reply_to_mode == ReplyToMode.NEW else "",
    )
    rendered = RenderedMail(
        subject=f"[TEST] {rendered.subject}"[:998],
        body_html=rendered.body_html,
        headers=rendered.headers,
        reply_to=rendered.reply_to,
    )
    with transaction.atomic():
        mail = _mail_row(mailing, campaign_message(mailing), rendered, own_message_id="", mass=False)
        mail.save()
        MailRecipient.objects.create(mail=mail, email=address)
        dispatch.send_now_async([mail.pk])
    return mail


# --- outcomes reported by the sender -------------------------------------------------------------
def traces_record_outcomes(outcomes: list[DeliveryOutcome]) -> None:
    """The sender's delivery listener: a campaign delivery was sent, failed or cancelled."""
    by_status: dict[tuple[str, str, str], list[int]] = {}
    for outcome in outcomes:
        by_status.setdefault((outcome.status, outcome.failure_type, outcome.reason), []).append(outcome.recipient_id)
    now = timezone.now()
    for (status, failure_type, reason), ids in by_status.items():
        traces = MailingTrace.objects.filter(mail_recipient_ref__in=ids, trace_status=TraceStatus.OUTGOING)
        if status == "sent":
            traces.update(trace_status=TraceStatus.SENT, sent_datetime=now, failure_type="", failure_reason="")
        elif status == "failed":
            traces.update(
                trace_status=TraceStatus.ERROR, failure_type=failure_type or TraceFailure.UNKNOWN, failure_reason=reason
            )
        else:
            traces.update(trace_status=TraceStatus.CANCEL, failure_type=failure_type, failure_reason=reason)


# --- bounces reported by bounce processing ------------------------------------------------------
def traces_record_bounce(delivery: BouncedDelivery) -> None:
    """The bounce listener: the campaign delivery a bounce names becomes ``bounce`` (Odoo's
    ``set_bounced``, whatever the status was), and its campaign pauses itself when too many of
    its mails bounce hard."""
    traces = MailingTrace.objects.none()
    if delivery.recipient_id is not None:
        traces = MailingTrace.objects.filter(mail_recipient_ref=delivery.recipient_id)
    if not traces.exists() and delivery.message_ids:
        traces = MailingTrace.objects.filter(message_id__in=delivery.message_ids)
    mailing_ids = set(traces.values_list("mailing_id", flat=True))
    if not mailing_ids:
        return
    traces.update(
        trace_status=TraceStatus.BOUNCE,
        failure_type=TraceFailure.MAIL_BOUNCE,
        failure_reason=delivery.diagnostic[:5000],
        hard_bounce=delivery.hard,
    )
    if delivery.hard:
        for mailing_id in mailing_ids:
            mailing_pause_if_bouncing(mailing_id)


def mailing_pause_if_bouncing(mailing_id: int) -> bool:
    """Protect the sender's domain: past the hard-bounce threshold, a campaign still going out
    pauses itself, says why, and takes back its mail not handed to a worker yet (those
    recipients become remaining again, so resuming sends to them once)."""
    traces = MailingTrace.objects.filter(mailing_id=mailing_id)
    sent = traces.filter(sent_datetime__isnull=False).count()
    hard = traces.filter(trace_status=TraceStatus.BOUNCE, hard_bounce=True).count()
    rate = conf.pause_hard_bounce_rate()
    if sent < conf.pause_min_sent() or hard <= rate * sent:
        return False
    reason = _(
        "Paused: %(hard)d of the %(sent)d mails sent bounced hard (%(ratio)s%%, more than %(limit)s%%). "
        "Receivers judge a sender by its bounces: check the list for dead addresses "
        "(the bounced recipients are listed under Bounced), then Resume."
    ) % {"hard": hard, "sent": sent, "ratio": f"{100 * hard / sent:.1f}", "limit": f"{100 * rate:g}"}
    with transaction.atomic():
        # "Sent" (every recipient queued) still pauses while some of its mail waits in the queue.
        going_out = Q(state__in=[MailingState.IN_QUEUE, MailingState.SENDING]) | Q(
            state=MailingState.DONE, traces__trace_status=TraceStatus.OUTGOING
        )
        candidates = Mailing.objects.filter(going_out, pk=mailing_id).values("pk")
        moved = Mailing.objects.filter(pk__in=Subquery(candidates)).update(
            state=MailingState.PAUSED, state_reason=reason
        )
        if not moved:
            return False
        waiting = traces.filter(trace_status=TraceStatus.OUTGOING)
        # Only rows no worker holds (SKIP LOCKED, a free lease): a row being sent finishes.
        rows = list(
            Mail.objects.select_for_update(skip_locked=True)
            .filter(state=MailState.OUTGOING, recipients__pk__in=Subquery(waiting.values("mail_recipient_ref")))
            .filter(lease_free_q(timezone.now()))
            .values_list("pk", flat=True)
        )
        refs = list(MailRecipient.objects.filter(mail_id__in=rows).values_list("pk", flat=True))
        Mail.objects.filter(pk__in=rows).delete()
        waiting.filter(mail_recipient_ref__in=refs).delete()
    logger.warning("Campaign %s paused: %s", mailing_id, reason)
    return True


def mailing_resume(*, mailing: Mailing) -> bool:
    """A paused campaign goes back in the queue and carries on with the recipients not yet handled."""
    moved = Mailing.objects.filter(pk=mailing.pk, state=MailingState.PAUSED).update(
        state=MailingState.IN_QUEUE, state_reason=""
    )
    if moved:
        marketing_trigger()
    mailing.refresh_from_db()
    return bool(moved)
