"""Auto-Vacuum deletes what Odoo's would (and our delivery-log retention), and keeps the rest."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.utils import timezone

from chatter import services
from chatter.models import Message, Notification, NotificationStatus
from chatter.tests.factories import LeadFactory, PartnerFactory, email_user_partner
from mailqueue import vacuum
from mailqueue.models import DeliveryLog, Mail, MailRecipient, MailState

pytestmark = pytest.mark.django_db


@pytest.fixture
def restore_cleaners() -> Iterator[None]:
    saved = dict(vacuum._cleaners)
    yield
    vacuum._cleaners.clear()
    vacuum._cleaners.update(saved)


def _ago(days: int) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def _post(*partners: object) -> Message:
    lead = LeadFactory()
    return services.message_post(
        record=lead,
        body="<p>hi</p>",
        subtype="mt_comment",
        author=PartnerFactory(),
        partner_ids=[p.pk for p in partners],  # type: ignore[attr-defined]
    )


def _mail(message: Message, *, state: str, auto_delete: bool = True, age_days: int = 0) -> Mail:
    mail = Mail.objects.create(message=message, subject="s", state=state, auto_delete=auto_delete)
    MailRecipient.objects.create(mail=mail, email="x@example.com")
    Mail.objects.filter(pk=mail.pk).update(updated_at=_ago(age_days))
    return mail


def test_sent_rows_go_and_the_others_stay() -> None:
    message = _post()
    leftover = _mail(message, state=MailState.SENT, auto_delete=True)  # auto-delete interrupted
    kept_recent = _mail(message, state=MailState.SENT, auto_delete=False, age_days=10)
    kept_old = _mail(message, state=MailState.SENT, auto_delete=False, age_days=181)
    cancel_old = _mail(message, state=MailState.CANCEL, age_days=200)
    cancel_recent = _mail(message, state=MailState.CANCEL, age_days=20)
    outgoing_old = _mail(message, state=MailState.OUTGOING, age_days=400)
    exception_old = _mail(message, state=MailState.EXCEPTION, age_days=400)

    result = vacuum.autovacuum()

    remaining = set(Mail.objects.values_list("pk", flat=True))
    assert leftover.pk not in remaining
    assert kept_old.pk not in remaining
    assert cancel_old.pk not in remaining
    assert {kept_recent.pk, cancel_recent.pk, outgoing_old.pk, exception_old.pk} <= remaining
    assert result["mail_sent"] == 2
    assert result["mail_canceled"] == 1
    # Their recipients went with them; the chatter message stays.
    assert not MailRecipient.objects.filter(mail_id__in=[leftover.pk, kept_old.pk]).exists()
    assert Message.objects.filter(pk=message.pk).exists()


def test_old_read_notifications_of_users_go_as_in_odoo_gc_notifications() -> None:
    user_old_sent = email_user_partner()
    user_old_canceled = email_user_partner()
    user_recent = email_user_partner()
    user_old_unread = email_user_partner()
    user_old_failed = email_user_partner()
    external_old = PartnerFactory()  # no user: its notification is the record of its e-mail
    message = _post(user_old_sent, user_old_canceled, user_recent, user_old_unread, user_old_failed, external_old)
    notifications = {n.res_partner_id: n for n in message.notifications.all()}
    assert len(notifications) == 6

    def set_(partner: object, **fields: object) -> None:
        Notification.objects.filter(pk=notifications[partner.pk].pk).update(**fields)  # type: ignore[attr-defined]

    set_(user_old_sent, is_read=True, read_date=_ago(181), notification_status=NotificationStatus.SENT)
    set_(user_old_canceled, is_read=True, read_date=_ago(365), notification_status=NotificationStatus.CANCELED)
    set_(user_recent, is_read=True, read_date=_ago(179), notification_status=NotificationStatus.SENT)
    set_(user_old_unread, is_read=False, read_date=_ago(400), notification_status=NotificationStatus.SENT)
    set_(user_old_failed, is_read=True, read_date=_ago(400), notification_status=NotificationStatus.EXCEPTION)
    set_(external_old, is_read=True, read_date=_ago(400), notification_status=NotificationStatus.SENT)

    result = vacuum.autovacuum()

    left = set(Notification.objects.filter(message=message).values_list("res_partner_id", flat=True))
    assert left == {user_recent.pk, user_old_unread.pk, user_old_failed.pk, external_old.pk}
    assert result["notifications"] == 2


def test_delivery_logs_older_than_the_retention_go(settings: object) -> None:
    settings.MAILQUEUE_DELIVERY_LOG_RETENTION_DAYS = 30  # type: ignore[attr-defined]
    old = DeliveryLog.objects.create(mail_id_ref=1, message_id="<a@x>", recipient="a@x", date=_ago(31))
    recent = DeliveryLog.objects.create(mail_id_ref=2, message_id="<b@x>", recipient="b@x", date=_ago(29))

    result = vacuum.autovacuum()

    assert list(DeliveryLog.objects.values_list("pk", flat=True)) == [recent.pk]
    assert result["delivery_logs"] == 1
    assert not DeliveryLog.objects.filter(pk=old.pk).exists()


def test_deletes_in_batches() -> None:
    DeliveryLog.objects.bulk_create(
        DeliveryLog(mail_id_ref=i, message_id=f"<{i}@x>", recipient="a@x", date=_ago(400)) for i in range(25)
    )
    assert vacuum.delete_in_batches(DeliveryLog.objects.all(), batch=10) == 25
    assert DeliveryLog.objects.count() == 0


@pytest.mark.usefixtures("restore_cleaners")
def test_registered_cleaners_run_and_a_failing_one_does_not_stop_the_others() -> None:
    DeliveryLog.objects.create(mail_id_ref=1, message_id="<a@x>", recipient="a@x", date=_ago(400))
    calls: list[str] = []

    def inbound_retention() -> int:
        calls.append("inbound")
        return 7

    def broken() -> int:
        raise RuntimeError("disk on fire")

    vacuum.register_vacuum("inbound_retention", inbound_retention)
    vacuum.register_vacuum("broken", broken)

    with pytest.raises(vacuum.VacuumError) as excinfo:
        vacuum.autovacuum()

    assert calls == ["inbound"]
    assert excinfo.value.results["inbound_retention"] == 7
    assert excinfo.value.results["delivery_logs"] == 1
    assert excinfo.value.errors == {"broken": "RuntimeError: disk on fire"}
    assert DeliveryLog.objects.count() == 0
