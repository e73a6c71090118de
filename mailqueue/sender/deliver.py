"""Sending a group of rows through one SMTP session, one message per recipient, within the quota."""

from __future__ import annotations

import logging
import smtplib

from django.utils import timezone

from chatter.models import FailureType
from mailcore import conf as mailcore_conf
from mailcore.quota import quota_consume, quota_deferral_reason, quota_release, quota_window
from mailqueue import conf
from mailqueue.exceptions import MailDeliveryError, TemporaryDeliveryError
from mailqueue.models import RecipientState
from mailqueue.sender.bookkeeping import flush, keep_content
from mailqueue.sender.build import bounce_envelope, recipient_label, recipient_lines
from mailqueue.sender.marks import SentMarks
from mailqueue.sender.records import Job, Kind, Outcome, Run, Target
from mailqueue.sender.smtp import Session, classify

logger = logging.getLogger(__name__)

# Bookkeeping (notifications, delivery log, row states) is written every this many mails.
FLUSH_EVERY = 100


# --- quota --------------------------------------------------------------------------------------
class QuotaBudget:
    """Daily-quota units for one group through the built-in server.

    Units are reserved in one conditional update for a whole batch; when that does not fit, one
    at a time until refused. Units not used (a message that did not leave) are given back.
    """

    def __init__(self, applies: bool) -> None:
        self.applies = applies
        self.now = timezone.now()
        self.pool = 0
        self.exhausted = False

    def reserve(self, n: int) -> None:
        if self.applies and not self.exhausted and n > 0 and quota_consume(n, now=self.now):
            self.pool += n

    def take(self) -> bool:
        if not self.applies:
            return True
        if self.pool > 0:
            self.pool -= 1
            return True
        if self.exhausted:
            return False
        if quota_consume(1, now=self.now):
            return True
        self.exhausted = True
        return False

    def can_take_freely(self) -> bool:
        """Whether :meth:`take` will grant a unit without asking the database."""
        return not self.applies or self.pool > 0

    def give_back(self) -> None:
        if self.applies:
            self.pool += 1

    def release(self) -> None:
        if self.applies and self.pool:
            quota_release(self.pool, now=self.now)
        self.pool = 0


def _record_sent(job: Job, outcome: Outcome, marks: SentMarks) -> None:
    """Written the moment the server said 250: this is what prevents a resend after a crash.

    The recipient's "sent" mark and its delivery-log entry are one commit, so a worker killed
    right after never leaves a served recipient without its log (:mod:`~mailqueue.sender.marks`).
    """
    now = timezone.now()
    response = outcome.smtp_response[:2000]
    recipient = outcome.recipient
    marks.write(
        [
            RecipientState.SENT,
            response,
            now,
            recipient.pk,
            # The delivery log (bookkeeping.LOG_FIELDS).
            job.mail.pk,
            recipient.pk,
            recipient.notification_id,
            job.mail.message_id,
            job.message_id,
            (outcome.address or recipient_label(recipient))[:512],
            job.host[:255],
            response,
            True,
            now,
            keep_content(job) if outcome.recipient_lines else None,
            outcome.recipient_lines,
        ]
    )


def _send_job(job: Job, session: Session, budget: QuotaBudget, run: Run, marks: SentMarks) -> None:
    """Send every target of one row; each accepted message is marked ``sent`` right away.

    "Right away" means as soon as the server's 250 is read, before anything else. On PostgreSQL
    the mark leaves for the database at once and its answer is read while the next message goes
    out; a database error then stops the row, and the lease brings it back.
    """
    assert job.choice is not None
    quota_reason = ""
    quota_kind = Kind.QUOTA
    targets = job.targets
    try:
        for index, target in enumerate(targets):
            # Per message, not per row: a row of 50 on a slow server can outlast the lease, and
            # another worker would then send to the same pending recipients.
            run.keep_lease()
            if job.mail.pk in run.lost:
                # Another worker owns the row now; it sends the recipients we have not served.
                logger.warning("Lease of mail %s was taken over: leaving its other recipients", job.mail.pk)
                break
            if not budget.take():
                if not quota_reason:
                    auto_resume = mailcore_conf.quota_auto_resume()
                    _day, reset_at = quota_window(budget.now)
                    quota_reason = quota_deferral_reason(reset_at, auto_resume=auto_resume)
                    # Without auto-resume the mail fails now, as Odoo's relay makes it fail; Retry revives it.
                    quota_kind = Kind.QUOTA if auto_resume else Kind.FAILED
                job.outcomes.append(Outcome(target.recipient, quota_kind, FailureType.MAIL_QUOTA, quota_reason))
                continue
            try:
                channel = session.get()
            except MailDeliveryError as unavailable:
                budget.give_back()
                job.outcomes.append(_failure_outcome(target, unavailable))
                continue
            envelope_from = target.envelope or bounce_envelope(job, target.recipient)
            # Announce the next message with this one's content only when nothing can stop it from
            # being sent next: its quota unit is already reserved.
            following = targets[index + 1] if index + 1 < len(targets) else None
            then = None
            if following is not None and budget.can_take_freely():
                following.envelope = bounce_envelope(job, following.recipient)
                then = (following.envelope, following.address)
            try:
                lines = recipient_lines(target, envelope_from)
                data = lines + job.content
            except Exception as exc:  # e.g. a display name Python cannot encode: final, as Odoo
                if channel.announced is not None:
                    session.close()  # its commands are on the wire: the transaction must not go on
                budget.give_back()
                job.outcomes.append(_failure_outcome(target, classify(exc, job.host)))
                continue
            try:
                answer = channel.send(envelope_from, target.address, data, then=then)
            except Exception as exc:
                budget.give_back()
                error = classify(exc, job.host)
                logger.info("Mail %s to %s not sent: %s", job.mail.pk, target.address, error.reason)
                # smtplib's exceptions are OSErrors too: a refusal (the session was reset and is
                # usable) must not count as a lost connection, only a socket error or a hang-up.
                lost = isinstance(exc, smtplib.SMTPServerDisconnected) or (
                    isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException)
                )
                if channel.closed or lost:
                    session.lost(error)
                job.outcomes.append(_failure_outcome(target, error, lines))
                continue
            session.delivered()
            outcome = Outcome(
                target.recipient, Kind.SENT, smtp_response=answer, address=target.address, recipient_lines=lines
            )
            outcome.recipient.state = RecipientState.SENT
            job.outcomes.append(outcome)
            _record_sent(job, outcome, marks)
    finally:
        # The row's marks are all confirmed before its bookkeeping.
        marks.confirm()
        if session.channel is not None and session.channel.announced is not None:
            session.close()  # left early with a message announced: hang up rather than send it


def _failure_outcome(target: Target, error: MailDeliveryError, lines: bytes = b"") -> Outcome:
    """``lines``: the recipient's first lines when its message was handed to the server."""
    if error.temporary:
        return Outcome(
            target.recipient,
            Kind.RETRY,
            "",
            error.reason,
            address=target.address,
            final_type=error.failure_type,
            recipient_lines=lines,
        )
    return Outcome(
        target.recipient, Kind.FAILED, error.failure_type, error.reason, address=target.address, recipient_lines=lines
    )


def send_group(jobs: list[Job], run: Run) -> None:
    """One (server, sender) group: one session per ``session_batch_size`` mails, reused."""
    choice = jobs[0].choice
    assert choice is not None
    session = Session(choice)
    budget = QuotaBudget(applies=choice.is_builtin)
    size = max(conf.session_batch_size(), 1)
    try:
        with SentMarks() as marks:
            for start in range(0, len(jobs), size):
                batch = jobs[start : start + size]
                if start:
                    session.new_batch()
                budget.reserve(sum(len(job.targets) for job in batch))
                for job in batch:
                    run.keep_lease()
                    try:
                        _send_job(job, session, budget, run, marks)
                    except Exception as exc:  # never let one row stop the queue (Odoo logs and goes on)
                        logger.exception("Failed processing mail %s", job.mail.pk)
                        fail_untouched(
                            job, TemporaryDeliveryError(f"{type(exc).__name__}: {exc}", failure_type="unknown")
                        )
                    queue_flush(job, run)
    finally:
        budget.release()
        session.close()


def fail_untouched(job: Job, error: MailDeliveryError) -> None:
    """Give every pending recipient of ``job`` without an outcome this run's error."""
    done = {outcome.recipient.pk for outcome in job.outcomes}
    for recipient in job.recipients:
        if recipient.state == RecipientState.PENDING and recipient.pk not in done:
            target = Target(recipient=recipient, address=recipient_label(recipient), to_header="")
            job.outcomes.append(_failure_outcome(target, error))


def queue_flush(job: Job, run: Run) -> None:
    run.pending_flush.append(job)
    if len(run.pending_flush) >= FLUSH_EVERY:
        flush(run)
