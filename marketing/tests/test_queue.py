"""The marketing queue over real parts: a real Celery worker, the real sender, a real SMTP sink.

Campaigns go oldest first; a broken one is marked failed and the others are sent; Cancel works;
a worker killed mid-campaign and restarted mails every recipient exactly once; the daily limit
holds a campaign until the reset and it resumes; campaign mail is DKIM-signed.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
from email import message_from_bytes
from email import policy as email_policy
from typing import Any

import dkim
import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from mailcore.dkim import dkim_generate_key
from mailcore.models import AliasDomain, Partner, QuotaDay
from mailcore.quota import quota_window
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import Mail, MailRecipient, MailState
from mailqueue.sender import send_mails
from marketing.models import Mailing, MailingList, MailingState, MailingTrace, TraceStatus
from marketing.queue import marketing_trigger, process_marketing_queue
from marketing.services import mailing_cancel, mailing_list_create, mailing_put_in_queue
from marketing.tests.test_lists import marketer
from tests.celery_fixtures import LiveWorker, wait_until

TIMEOUT = 60


def _list_of(name: str, count: int, domain: str = "example.com") -> MailingList:
    mailing_list = mailing_list_create(name=name)
    contacts = Partner.objects.bulk_create(
        Partner(name=f"{name} {i}", email=f"{name.lower()}{i}@{domain}", email_normalized=f"{name.lower()}{i}@{domain}")
        for i in range(count)
    )
    from marketing.models import MailingSubscription

    MailingSubscription.objects.bulk_create(MailingSubscription(mailing_list=mailing_list, contact=c) for c in contacts)
    return mailing_list


def _campaign(mailing_list: MailingList, subject: str, **fields: Any) -> Mailing:
    values = {
        "subject": subject,
        "email_from": "news@mailcore.localhost",
        "body_html": '<p>Hello {{ contact.name }}, see <a href="https://shop.example.com/spring">our offers</a>.</p>',
    }
    mailing = Mailing.objects.create(**{**values, **fields})
    mailing.mailing_lists.set([mailing_list])
    return mailing


def test_three_campaigns_oldest_first_and_a_broken_one_never_blocks_the_others(
    smtp_sink: SmtpSink, celery_worker_live: LiveWorker
) -> None:
    now = timezone.now()
    first = _campaign(_list_of("First", 2), "First campaign")
    broken = _campaign(_list_of("Broken", 2), "Broken campaign")
    last = _campaign(_list_of("Last", 2), "Last campaign")
    for age, mailing in zip((30, 20, 10), (first, broken, last), strict=True):
        Mailing.objects.filter(pk=mailing.pk).update(created_at=now - dt.timedelta(minutes=age))
    # The broken one was edited behind the checks (the admin site, a script) before it was queued;
    # all three wait in the queue before the cron runs once, so the order is the queue's own.
    Mailing.objects.filter(pk=broken.pk).update(body_html="<p>{{ contact.password }}</p>")
    Mailing.objects.filter(pk__in=[first.pk, broken.pk, last.pk]).update(state=MailingState.IN_QUEUE)
    marketing_trigger()

    assert wait_until(lambda: Mailing.objects.filter(state=MailingState.DONE).count() == 2, TIMEOUT)
    assert len(smtp_sink.wait_for(4, timeout=TIMEOUT)) == 4

    broken.refresh_from_db()
    assert broken.state == MailingState.FAILED
    assert "contact has no field 'password'" in broken.state_reason
    assert not MailingTrace.objects.filter(mailing=broken).exists()
    first_traces = list(MailingTrace.objects.filter(mailing=first).values_list("id", flat=True))
    last_traces = list(MailingTrace.objects.filter(mailing=last).values_list("id", flat=True))
    assert max(first_traces) < min(last_traces)  # the oldest campaign was queued first
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.messages) == [
        "first0@example.com",
        "first1@example.com",
        "last0@example.com",
        "last1@example.com",
    ]
    assert wait_until(
        lambda: MailingTrace.objects.filter(trace_status=TraceStatus.SENT).count() == 4, TIMEOUT
    )  # the sender told the traces

    received = message_from_bytes(smtp_sink.messages[0].data, policy=email_policy.default)
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Unsubscribe"].startswith("<http") and "/one-click/>" in received["List-Unsubscribe"]
    assert received["Precedence"] == "list"
    html = next(p for p in received.walk() if p.get_content_type() == "text/html").get_content()
    assert "/mailing/t/c/" in html and "/mailing/t/o/" in html and "Unsubscribe" in html

    page = marketer().get(reverse("marketing:mailing_detail", args=[broken.pk])).content.decode()
    assert "Failed" in page and "contact has no field" in page


@pytest.mark.django_db
def test_cancel_a_queued_campaign_sends_nothing(smtp_sink: SmtpSink) -> None:
    mailing = _campaign(_list_of("Later", 3), "Later")
    mailing_put_in_queue(mailing=mailing)
    assert mailing_cancel(mailing=mailing)

    process_marketing_queue(time_budget=30)
    send_mails()

    mailing.refresh_from_db()
    assert mailing.state == MailingState.DRAFT
    assert not MailingTrace.objects.exists() and not Mail.objects.exists()
    assert smtp_sink.messages == []


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_campaign_then_restarted_mails_everyone_exactly_once(tmp_path: Any) -> None:
    mailing = _campaign(_list_of("Big", 5000), "Big campaign")
    Mailing.objects.filter(pk=mailing.pk).update(state=MailingState.IN_QUEUE)
    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "MAILCORE_VAR_DIR": str(tmp_path)}
    if connection.vendor == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        env["DATABASE_URL"] = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    code = (
        "import django; django.setup();"
        "from django.conf import settings; settings.MARKETING_BATCH_SIZE = 250;"
        "from marketing.queue import process_marketing_queue; process_marketing_queue(time_budget=600)"
    )
    worker = subprocess.Popen([sys.executable, "-c", code], cwd=django_settings.BASE_DIR, env=env)
    try:
        assert wait_until(lambda: MailingTrace.objects.count() >= 1000, 120)
        os.kill(worker.pid, signal.SIGKILL)  # mid-campaign, mid-batch most likely
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
    traced = MailingTrace.objects.count()
    assert 1000 <= traced < 5000 and traced % 250 == 0  # only whole batches were committed
    assert Mail.objects.count() == traced

    result = process_marketing_queue(time_budget=600)  # the restarted worker

    assert result.remaining == 0
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE
    assert MailingTrace.objects.filter(mailing=mailing).count() == 5000
    assert MailingTrace.objects.values("contact").distinct().count() == 5000
    assert MailRecipient.objects.count() == 5000
    assert MailRecipient.objects.values("partner").distinct().count() == 5000


@pytest.mark.django_db
def test_the_daily_limit_holds_a_campaign_until_the_reset_then_it_resumes(smtp_sink: SmtpSink, settings: Any) -> None:
    settings.MAILCORE_DAILY_LIMIT = 3
    mailing = _campaign(_list_of("Limited", 5), "Limited")
    mailing_put_in_queue(mailing=mailing)
    process_marketing_queue(time_budget=30)

    report = send_mails()

    assert report.sent == 3
    assert len(smtp_sink.wait_for(3)) == 3
    client = marketer()
    page = client.get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "Daily limit reached — resumes after 23:00 UTC." in page
    assert MailingTrace.objects.filter(trace_status=TraceStatus.OUTGOING).count() == 2

    day, _reset_at = quota_window()
    QuotaDay.objects.filter(day=day).update(day=day - dt.timedelta(days=1))
    Mail.objects.filter(state=MailState.OUTGOING).update(next_attempt_at=timezone.now() - dt.timedelta(seconds=1))
    assert send_mails().sent == 2

    assert len(smtp_sink.wait_for(5)) == 5
    assert MailingTrace.objects.filter(trace_status=TraceStatus.SENT).count() == 5
    page = client.get(reverse("marketing:mailing_detail", args=[mailing.pk])).content.decode()
    assert "Daily limit reached" not in page


@pytest.mark.django_db
def test_campaign_mail_is_dkim_signed_and_verifies(smtp_sink: SmtpSink) -> None:
    domain = AliasDomain.objects.get(name="mailcore.localhost")
    record = dkim_generate_key(alias_domain=domain, selector="news")
    mailing = _campaign(_list_of("Signed", 2), "Signed")
    mailing_put_in_queue(mailing=mailing)
    process_marketing_queue(time_budget=30)
    assert send_mails().sent == 2

    def dns(name: bytes, timeout: int = 5) -> bytes:
        return record.value.encode() if name.decode().rstrip(".") == record.name else b""

    for received in smtp_sink.wait_for(2):
        assert dkim.verify(received.data, dnsfunc=dns)
        assert b"list-unsubscribe-post" in received.data.split(b"\r\n\r\n")[0].lower()


@pytest.mark.django_db
def test_a_test_send_goes_to_one_address_with_test_in_the_subject_and_no_trace(smtp_sink: SmtpSink) -> None:
    mailing = _campaign(_list_of("Tested", 2), "Spring offers for {{ contact.name }}")
    client = marketer()
    page = client.post(
        reverse("marketing:mailing_action", args=[mailing.pk]),
        {"action": "test", "test_email": "me@example.org"},
        follow=True,
    ).content.decode()
    assert "Test sent to me@example.org" in page
    assert send_mails().sent == 1
    (received,) = smtp_sink.wait_for(1)
    assert received.rcpt_tos == ["me@example.org"]
    parsed = message_from_bytes(received.data, policy=email_policy.default)
    assert parsed["Subject"] == "[TEST] Spring offers for Tested 0"
    assert not MailingTrace.objects.exists()
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DRAFT
    bad = client.post(
        reverse("marketing:mailing_action", args=[mailing.pk]), {"action": "test", "test_email": "nope"}, follow=True
    )
    assert "Invalid email address: &#x27;nope&#x27;." in bad.content.decode()


@pytest.mark.django_db
def test_retry_failed_sends_again_to_the_failed_recipients_only(smtp_sink: SmtpSink) -> None:
    mailing = _campaign(_list_of("Retried", 3), "Retried")
    mailing_put_in_queue(mailing=mailing)
    process_marketing_queue(time_budget=30)
    smtp_sink.fail(
        "RCPT", "550 5.1.1 <retried1@example.com>: Recipient address rejected", times=1, address="retried1@example.com"
    )
    report = send_mails()
    assert (report.sent, report.failed) == (2, 1)
    trace = MailingTrace.objects.get(email="retried1@example.com")
    assert trace.trace_status == TraceStatus.ERROR and "550 5.1.1" in trace.failure_reason
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE

    client = marketer()
    page = client.post(reverse("marketing:mailing_action", args=[mailing.pk]), {"action": "retry"}, follow=True)
    assert "1 failed recipient will be tried again." in page.content.decode()
    process_marketing_queue(time_budget=30)
    assert send_mails().sent == 1
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.wait_for(3)) == [
        "retried0@example.com",
        "retried1@example.com",
        "retried2@example.com",
    ]
    assert MailingTrace.objects.filter(mailing=mailing, trace_status=TraceStatus.SENT).count() == 3
    mailing.refresh_from_db()
    assert mailing.state == MailingState.DONE


@pytest.mark.django_db
def test_send_campaign_command_and_the_queue_filtered_by_campaign(smtp_sink: SmtpSink, admin_client: Client) -> None:
    from io import StringIO

    from django.core.management import CommandError, call_command

    mailing = _campaign(_list_of("Scripted", 4), "Scripted")
    out = StringIO()
    call_command("send_campaign", mailing.pk, "--deliver", stdout=out)
    text = out.getvalue()
    assert "4/4 recipients" in text and "Campaign" in text and "4 e-mails queued, 0 recipients left out." in text
    assert "Sent 4" in text
    assert len(smtp_sink.wait_for(4)) == 4
    with pytest.raises(CommandError, match="nothing to send"):
        call_command("send_campaign", mailing.pk, stdout=StringIO())
    with pytest.raises(CommandError, match="No campaign 999999"):
        call_command("send_campaign", 999999, stdout=StringIO())

    other = _campaign(_list_of("Other", 1), "Other")
    mailing_put_in_queue(mailing=other)
    process_marketing_queue(time_budget=30)
    from marketing.selectors import mailing_message_id

    queue = admin_client.get(reverse("mailqueue:list"), {"message": mailing_message_id(other)}).content.decode()
    assert "Other" in queue and "Only the e-mails of one message or campaign." in queue
    assert admin_client.get(reverse("mailqueue:list"), {"message": "x"}).status_code == 400
