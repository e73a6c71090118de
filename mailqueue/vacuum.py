"""Auto-Vacuum (Odoo ``ir.autovacuum``): the daily clean-up of data nobody needs any more.

Every cleaner is a function returning how many rows it deleted. Ours delete sent mail rows (those
with auto-delete are normally gone already), read notifications older than 180 days (Odoo
``_gc_notifications``), old cancelled rows, old delivery logs and the kept bytes of old sent
messages. Other apps add theirs with
:func:`register_vacuum` (bounces: the retention of inbound messages).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable

from django.db import models, transaction
from django.utils import timezone

from chatter.models import Notification, NotificationStatus
from mailqueue import conf
from mailqueue.models import DeliveryLog, Mail, MailState, SentContent

logger = logging.getLogger(__name__)

Cleaner = Callable[[], int]

# Delete in slices so one run never holds a huge transaction (Odoo GCs 10 000 rows per call).
DELETE_BATCH = 5000


class VacuumError(RuntimeError):
    """Some cleaners failed; the others ran. ``results`` holds what the successful ones deleted."""

    def __init__(self, results: dict[str, int], errors: dict[str, str]) -> None:
        super().__init__("Auto-Vacuum: " + "; ".join(f"{name}: {error}" for name, error in errors.items()))
        self.results = results
        self.errors = errors


_cleaners: dict[str, Cleaner] = {}


def register_vacuum(name: str, fn: Cleaner) -> None:
    """Add a cleaner to Auto-Vacuum (Odoo's ``@api.autovacuum``). Registering a name again replaces it."""
    _cleaners[name] = fn


def delete_in_batches(queryset: models.QuerySet[models.Model], batch: int = DELETE_BATCH) -> int:
    """Delete the rows of ``queryset`` a slice at a time, each slice in its own transaction."""
    total = 0
    model = queryset.model
    while True:
        with transaction.atomic():
            ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:batch])
            if not ids:
                return total
            model._default_manager.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < batch:
            return total


def _days_ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def gc_sent_mails() -> int:
    """Sent rows: left-overs meant to be auto-deleted at once, and kept ones after the retention period.

    Odoo deletes a sent row at once when ``auto_delete`` is set; a row that survived (worker killed
    between sending and deleting) goes now. Rows kept on purpose go after ``mail_retention_days``;
    the delivery log keeps their history.
    """
    sent = Mail.objects.filter(state=MailState.SENT)
    cutoff = _days_ago(conf.mail_retention_days())
    return delete_in_batches(sent.filter(models.Q(auto_delete=True) | models.Q(updated_at__lt=cutoff)))


def gc_canceled_mails() -> int:
    """Cancelled rows older than the retention period (Odoo mass mailing ``_gc_canceled_mail_mail``)."""
    cutoff = _days_ago(conf.mail_retention_days())
    return delete_in_batches(Mail.objects.filter(state=MailState.CANCEL, updated_at__lt=cutoff))


def gc_notifications() -> int:
    """Odoo ``_gc_notifications(max_age_days=180)``: read, old, sent or cancelled notifications of users.

    As in Odoo only notifications of internal users (contacts with a user) go: for an external
    contact the notification is the only record of how its e-mail fared.
    """
    cutoff = _days_ago(conf.notification_retention_days())
    return delete_in_batches(
        Notification.objects.filter(
            is_read=True,
            read_date__lt=cutoff,
            res_partner__user__isnull=False,
            notification_status__in=[NotificationStatus.SENT, NotificationStatus.CANCELED],
        )
    )


def gc_delivery_logs() -> int:
    """Delivery log rows older than ``delivery_log_retention_days``."""
    return delete_in_batches(DeliveryLog.objects.filter(date__lt=_days_ago(conf.delivery_log_retention_days())))


def gc_sent_contents() -> int:
    """Kept bytes of sent messages older than ``sent_eml_retention_days``; their Download .eml ends.

    Each slice clears the delivery logs' pointers and first lines in the same transaction, so no
    log is left pointing at deleted bytes or keeps half a message.
    """
    old = SentContent.objects.filter(created_at__lt=_days_ago(conf.sent_eml_retention_days()))
    total = 0
    while True:
        with transaction.atomic():
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:DELETE_BATCH])
            if not ids:
                return total
            DeliveryLog.objects.filter(content_id__in=ids).update(content=None, recipient_lines=b"")
            SentContent.objects.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < DELETE_BATCH:
            return total


register_vacuum("mail_sent", gc_sent_mails)
register_vacuum("mail_canceled", gc_canceled_mails)
register_vacuum("notifications", gc_notifications)
register_vacuum("delivery_logs", gc_delivery_logs)
register_vacuum("sent_contents", gc_sent_contents)


def autovacuum() -> dict[str, int]:
    """Run every registered cleaner; return how many rows each deleted.

    As Odoo 18 does, cleaners run in shuffled order so a slow or failing one cannot starve the
    others every day; a failing cleaner is logged and the rest still run, then :class:`VacuumError`
    reports the failures with the counts of the others.
    """
    names = list(_cleaners)
    random.shuffle(names)
    results: dict[str, int] = {}
    errors: dict[str, str] = {}
    for name in names:
        try:
            results[name] = int(_cleaners[name]())
        except Exception as exc:
            logger.exception("Auto-Vacuum cleaner %r failed", name)
            errors[name] = f"{type(exc).__name__}: {exc}"
    if errors:
        raise VacuumError(results, errors)
    logger.info("Auto-Vacuum deleted %s", results)
    return results
