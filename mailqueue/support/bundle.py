"""The one-click support bundle of an outgoing e-mail (Odoo's troubleshooting page, "Information for Odoo Support")."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import re
import zipfile
from collections.abc import Iterable
from pathlib import Path

import django
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from chatter.models import FailureType, Message, Notification, NotificationStatus
from mailcore import conf as mailcore_conf
from mailcore.diagnostics import (
    ADMIN_EMAIL_TITLE,
    QUOTA_TITLE,
    Check,
    DomainReport,
    check_admin_email,
    check_quota,
    describe_error,
    dns_check,
    domain_reports,
    log_files,
    run_check,
)
from mailcore.models import AliasDomain, MailServer
from mailqueue.eml import Eml, eml_for_mail, eml_for_notification
from mailqueue.exceptions import EmlNotAvailable, MailQueueError
from mailqueue.models import DeliveryLog, Mail, MailRecipient, MailState
from mailqueue.support.checks import format_utc, one_line, queue_checks


class SupportBundleNotFound(MailQueueError, LookupError):
    """No outgoing row, and no delivery log of one, has this id."""


LOG_LINES_MAX = 2000
LOG_FILES_MAX = 8

# Odoo's troubleshooting page's "Information for Odoo Support": what the operator still has to tell.
SUPPORT_QUESTIONS = (
    "Is this a notification message from a reply being received, or a message being sent from the database?",
    "Is there an incoming mail server being used, or is the e-mail redirected/forwarded through a custom "
    "e-mail server or provider?",
    "Can you provide an example of an e-mail that was correctly forwarded?",
    "Have you changed any e-mail-related settings recently? Did it stop working after those changes?",
    "Is it a generic issue or specific to a use case? If specific, which one?",
    "Is it working as expected otherwise: does the bounce reach the database and show the red envelope?",
)


def _log_lines(mail_id: int, message_ids: Iterable[str]) -> list[str]:
    """Lines of the daily log files naming this row or its Message-IDs (today's file first)."""
    configured = mailcore_conf.log_file()
    if not configured:
        return []
    needles = [re.escape(m) for m in message_ids if m]
    pattern = re.compile(rf"\b[Mm]ail #?{mail_id}\b" + "".join(f"|{n}" for n in needles))
    lines: list[str] = []
    for path in log_files(Path(configured))[:LOG_FILES_MAX]:
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if pattern.search(line):
                        lines.append(f"{path.name}: {line.rstrip()}")
                        if len(lines) >= LOG_LINES_MAX:
                            return lines
        except OSError as exc:
            lines.append(f"{path.name}: could not read: {describe_error(exc)}")
    return lines


def _record_line(message: Message) -> str:
    content_type = message.model
    if content_type is None or message.res_id is None:
        return "none (not linked to a record)"
    model = content_type.model_class()
    label = str(model._meta.verbose_name).capitalize() if model else f"{content_type.app_label}.{content_type.model}"
    url = f"{mailcore_conf.base_url()}/records/{content_type.pk}/{message.res_id}/"
    return f'{label} #{message.res_id} "{message.record_name}" — {url}'


def _servers_lines() -> list[str]:
    lines = [
        f"Built-in server (used when no outgoing server record matches): {mailcore_conf.smtp_host()}:"
        f"{mailcore_conf.smtp_port()} encryption={mailcore_conf.smtp_encryption()} "
        f"from_filter={mailcore_conf.smtp_from_filter() or '(any)'}"
    ]
    for server in MailServer.objects.order_by("sequence", "id"):
        # Never the password: a bundle is sent outside the company.
        lines.append(
            f"Outgoing server {server.name!r}: {server.smtp_host}:{server.smtp_port} "
            f"encryption={server.smtp_encryption} user={'set' if server.smtp_user else 'none'} "
            f"from_filter={server.from_filter or '(any)'} priority={server.sequence} "
            f"{'active' if server.active else 'archived'}"
        )
    return lines


def _dns_lines(reports: list[DomainReport]) -> list[str]:
    lines: list[str] = []
    for report in reports:
        lines.append(f"{report.domain} (sent through {report.sending_host or 'no server'}):")
        for verdict in report.verdicts:
            lines.append(f"  {verdict.kind} [{verdict.status.label}] {verdict.name}: {verdict.verdict}")
            if verdict.record:
                lines.append(f"    record: {verdict.record}")
            lines.extend(f"    {detail}" for detail in verdict.details)
    return lines or ["No alias domain configured."]


def _check_lines(checks: Iterable[Check]) -> list[str]:
    lines: list[str] = []
    for check in checks:
        lines.append(f"{check.title} [{check.status.label}]: {check.summary}")
        lines.extend(f"  {item.label}: {item.text}" for item in check.items if not item.url)
    return lines


def support_bundle(mail_id: int, *, notification_id: int | None = None, now: dt.datetime | None = None) -> bytes:
    """A zip with what support asks for about one outgoing e-mail ("Information for Support" in
    Odoo's troubleshooting page).

    ``mail-<id>.eml`` (the exact bytes handed to the SMTP server, kept also after the row was
    auto-deleted; for a row not sent yet, what the sender would send; with ``notification_id``,
    the message of that recipient), ``facts.txt`` (record, dates in UTC, state, failure, server used, settings,
    quota, DNS verdicts, the questions support will ask), ``delivery-log.txt`` (every SMTP
    attempt and per-recipient outcome), ``notifications.txt`` (each recipient's status and
    failure reason) and ``log-lines.txt`` (matching lines of the daily log files).

    The files are in English, whatever the active language (the checks' texts included).
    Raises :class:`SupportBundleNotFound` when neither the row nor a delivery log of it exists.
    """
    now = now or timezone.now()
    mail = (
        Mail.objects.select_related("message", "message__author", "message__model", "message__parent", "mail_server")
        .filter(pk=mail_id)
        .first()
    )
    logs = list(DeliveryLog.objects.filter(mail_id_ref=mail_id).order_by("date", "id"))
    if mail is None and not logs:
        raise SupportBundleNotFound(_("No outgoing e-mail #%(id)s, and no delivery log of it.") % {"id": mail_id})
    # Written in English whatever the operator's language: it is read by support, outside the
    # company, next to the English SMTP answers and log lines it quotes; one language throughout.
    with translation.override("en"):
        return _bundle(mail_id, mail, logs, notification_id=notification_id, now=now)


def _bundle(
    mail_id: int, mail: Mail | None, logs: list[DeliveryLog], *, notification_id: int | None, now: dt.datetime
) -> bytes:
    message = (
        mail.message if mail is not None else next((log.chatter_message for log in logs if log.chatter_message), None)
    )
    recipients = (
        list(MailRecipient.objects.filter(mail=mail).select_related("partner", "notification").order_by("id"))
        if mail is not None
        else []
    )

    eml: Eml | None = None
    try:
        eml = eml_for_notification(notification_id) if notification_id is not None else eml_for_mail(mail_id)
    except EmlNotAvailable as exc:
        eml_line = f"The .eml: none. {exc}"
    else:
        eml_line = f"The .eml ({eml.filename}): {eml.describe()}"

    facts: list[str] = [
        "mailcore support bundle",
        f"Generated: {format_utc(now)}",
        f"Django {django.get_version()}",
        "",
        "== The e-mail ==",
    ]
    if mail is not None:
        facts += [
            f"Outgoing e-mail: #{mail.pk}, state {MailState(mail.state).label} ({mail.state})",
            f"Urgent: {'yes (sent right after posting)' if mail.urgent else 'no (waits for the Email Queue Manager)'}",
            f"Created: {format_utc(mail.created_at)}",
            f"Scheduled: {format_utc(mail.scheduled_date)}",
            f"Attempts: {mail.attempt_count}; next attempt: {format_utc(mail.next_attempt_at)}",
            f"Server used: {mail.server_used or '—'}"
            + (f" (forced server {mail.mail_server.name!r})" if mail.mail_server else ""),
            f"Failure type: {mail.failure_type or '—'}"
            + (f" ({FailureType(mail.failure_type).label})" if mail.failure_type else ""),
            f"Failure reason: {mail.failure_reason or '—'}",
            f"From: {mail.email_from}",
            f"Reply-To: {mail.reply_to}",
            f"Subject: {mail.subject}",
            f"References: {mail.references}",
            f"In-Reply-To: {mail.in_reply_to or '—'}",
        ]
    else:
        facts.append(
            f"Outgoing e-mail #{mail_id} was deleted after sending (auto-delete); facts from the delivery log."
        )
    if message is not None:
        author = f"{message.author.name} <{message.author.email_normalized}>" if message.author else message.email_from
        facts += [
            f"Message-ID: {message.message_id}",
            f"Record: {_record_line(message)}",
            f"Chatter message: #{message.pk}, posted {format_utc(message.date)} by {author or 'no author'}",
        ]
    sent_times = [log.date for log in logs if log.success]
    if sent_times:
        facts.append(f"Sent (first delivery): {format_utc(min(sent_times))}")
    facts.append(eml_line)

    reports = domain_reports()
    facts += ["", "== Settings ==", *_servers_lines()]
    facts += [
        f"Alias domain {d.name}: bounce {d.bounce_email}, catchall {d.catchall_email}, "
        f"default From {d.default_from_email}"
        for d in AliasDomain.objects.order_by("sequence", "id")
    ]
    facts += ["", "== Checks ==", *_check_lines([
        run_check("quota", QUOTA_TITLE, check_quota),
        run_check("admin_email", ADMIN_EMAIL_TITLE, check_admin_email),
        *queue_checks(),
        dns_check(reports),
    ])]  # fmt: skip
    facts += ["", "== SPF / DKIM / DMARC ==", *_dns_lines(reports)]
    facts += ["", "== Please also answer (support will ask) ==", *(f"- {q}" for q in SUPPORT_QUESTIONS)]

    delivery = ["Per recipient:"] if recipients else []
    for recipient in recipients:
        address = recipient.partner.email if recipient.partner else recipient.email
        delivery.append(
            f"  {address or '(no address)'}: {recipient.state}"
            + (f", sent {format_utc(recipient.sent_at)}" if recipient.sent_at else "")
            + (
                f", failure {recipient.failure_type}: {one_line(recipient.failure_reason)}"
                if recipient.failure_type
                else ""
            )
            + (f", SMTP: {recipient.smtp_response}" if recipient.smtp_response else "")
        )
    delivery.append("Delivery log (kept after auto-delete):" if logs else "Delivery log: no delivery attempted yet.")
    delivery += [
        f"  {format_utc(log.date)} {'OK  ' if log.success else 'FAIL'} {log.recipient} via {log.server or '—'} "
        f"{log.message_id}: {log.smtp_response}"
        for log in logs
    ]

    notifications: list[str] = []
    if message is not None:
        for n in Notification.objects.filter(message=message).select_related("res_partner").order_by("id"):
            line = (
                f"{n.res_partner.name} <{n.res_partner.email_normalized or n.res_partner.email or 'no e-mail'}>: "
                f"{n.notification_type} {NotificationStatus(n.notification_status).label}"
            )
            if n.failure_type or n.failure_reason:
                line += f" — {one_line(n.format_failure_reason())}"
                if n.failure_reason and n.failure_type not in ("", FailureType.UNKNOWN):
                    line += f" ({one_line(n.failure_reason)})"
            notifications.append(line)
    if not notifications:
        notifications.append("No notification.")

    message_ids = {log.message_id for log in logs} | ({message.message_id} if message is not None else set())
    log_lines = _log_lines(mail_id, sorted(message_ids)) or ["No matching line in the log files."]

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if eml is not None:
            archive.writestr(eml.filename, eml.data)
        archive.writestr("facts.txt", "\n".join(facts) + "\n")
        archive.writestr("delivery-log.txt", "\n".join(delivery) + "\n")
        archive.writestr("notifications.txt", "\n".join(notifications) + "\n")
        archive.writestr("log-lines.txt", "\n".join(log_lines) + "\n")
    return buffer.getvalue()


def support_bundle_filename(mail_id: int, now: dt.datetime | None = None) -> str:
    stamp = (now or timezone.now()).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"mailcore-support-mail-{mail_id}-{stamp}.zip"
