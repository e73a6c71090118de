"""Send Now or Retry from a queue row's detail page when the row is auto-deleted once sent: the
user lands on the queue list with what happened and a link to the delivery log, never on a 404."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from chatter.models import Message
from demo.models import Lead
from mailcore.models import Partner
from mailcore.testing.smtp import SmtpSink
from mailqueue.models import DeliveryLog, Mail, MailState
from mailqueue.sender import send_mails
from tests.celery_fixtures import LiveWorker, wait_until

REFUSED = "554 5.7.1 Rejected by policy"


def _client(*, staff: bool = True) -> Client:
    user = get_user_model().objects.create_user("boss" if staff else "clerk", password="pw", is_staff=staff)
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))
    return client


def _queued(urgent: bool = False) -> Mail:
    """A message to Bob whose row waits in the queue and is deleted once sent (auto-delete)."""
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    lead = Lead.objects.create(name="Globex chairs")
    message: Message = lead.message_post(
        body="<p>Your quotation</p>",
        subject="Quotation",
        subtype="mt_comment",
        partner_ids=[bob.pk],
        author=Partner.objects.create(name="Sally", email="sally@example.com"),
        urgent=urgent,
    )
    return Mail.objects.get(message=message)


def _flashes(response: object) -> list[str]:
    return [str(m) for m in response.context["messages"]]  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_send_now_from_the_detail_page_lands_on_the_list_with_the_delivery_log(smtp_sink: SmtpSink) -> None:
    client = _client()
    mail = _queued()
    detail = reverse("mailqueue:detail", args=[mail.pk])
    assert client.get(detail).status_code == 200

    response = client.post(
        reverse("mailqueue:action"), {"action": "send_now", "mail_ids": [mail.pk], "next": detail}, follow=True
    )

    assert response.redirect_chain == [(reverse("mailqueue:list"), 302)]
    assert len(smtp_sink.messages) == 1 and not Mail.objects.filter(pk=mail.pk).exists()
    (flash,) = _flashes(response)
    message_id = mail.message.message_id
    log_url = f"{reverse('mailqueue:log')}?{urlencode({'message_id': message_id})}"
    assert flash == (
        f"E-mail {mail.pk} was sent to 1 recipient and then deleted from the queue (auto-delete). "
        f'<a href="{log_url}">See its delivery log</a>.'
    )
    # Shown as a link, not as escaped text.
    assert f'<a href="{log_url}">See its delivery log</a>' in response.content.decode()

    log = client.get(log_url)
    assert log.status_code == 200
    html = log.content.decode()
    assert "Delivery log" in html and "bob@example.com" in html and 'data-success="true"' in html
    assert "250 " in html  # the server's answer
    # The detail page of the deleted row says the same instead of a 404.
    again = client.get(detail, follow=True)
    assert again.redirect_chain == [(reverse("mailqueue:list"), 302)]
    assert "was sent to 1 recipient and then deleted" in _flashes(again)[0]


@pytest.mark.django_db
def test_a_row_that_never_existed_is_still_a_404_and_the_log_is_staff_only(smtp_sink: SmtpSink) -> None:
    mail = _queued()
    send_mails()
    assert DeliveryLog.objects.filter(mail_id_ref=mail.pk).exists()
    client = _client()
    assert client.get(reverse("mailqueue:detail", args=[mail.pk + 1000])).status_code == 404
    bad = client.get(reverse("mailqueue:log"))
    assert bad.status_code == 400 and b"Message-ID" in bad.content
    assert client.get(reverse("mailqueue:log"), {"message_id": "<nothing@here>"}).status_code == 200
    clerk = _client(staff=False)
    response = clerk.get(reverse("mailqueue:log"), {"message_id": mail.message.message_id})
    assert response.status_code in (302, 403)
    assert b"bob@example.com" not in response.content


@pytest.mark.django_db
def test_a_failed_row_that_was_deleted_says_so(smtp_sink: SmtpSink) -> None:
    # Odoo deletes an auto-delete row whose only failures are invalid addresses.
    bob = Partner.objects.create(name="Bob", email="not-an-address")
    lead = Lead.objects.create(name="Globex")
    message = lead.message_post(
        body="x", subtype="mt_comment", partner_ids=[bob.pk], author=Partner.objects.create(name="S", email="s@x.org")
    )
    mail = Mail.objects.get(message=message)
    send_mails()
    assert not Mail.objects.filter(pk=mail.pk).exists()
    response = _client().get(reverse("mailqueue:detail", args=[mail.pk]), follow=True)
    assert f"E-mail {mail.pk} was not sent (1 failed attempt) and then deleted" in _flashes(response)[0]


def test_retry_from_the_detail_page_with_a_worker_lands_on_the_list(
    smtp_sink: SmtpSink, celery_worker_live: LiveWorker
) -> None:
    """Retry hands the row to a real worker, which sends and deletes it: the detail page the
    browser returns to then leads to the list and the delivery log."""
    smtp_sink.fail("RCPT", REFUSED, address="bob@example.com", times=1)
    mail = _queued(urgent=True)
    assert wait_until(lambda: Mail.objects.filter(pk=mail.pk, state=MailState.EXCEPTION).exists())
    client = _client()
    detail = reverse("mailqueue:detail", args=[mail.pk])

    response = client.post(reverse("mailqueue:action"), {"action": "retry", "mail_ids": [mail.pk], "next": detail})

    assert response.status_code == 302 and response["Location"] == detail
    assert len(smtp_sink.wait_for(1)) == 1
    assert wait_until(lambda: not Mail.objects.filter(pk=mail.pk).exists())
    landed = client.get(detail, follow=True)
    assert landed.redirect_chain == [(reverse("mailqueue:list"), 302)]
    flashes = _flashes(landed)
    assert "1 e-mail put back in the queue." in flashes
    assert any(
        f"E-mail {mail.pk} was sent to 1 recipient (1 failed attempt before) and then deleted" in f for f in flashes
    ), flashes
