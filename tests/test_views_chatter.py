"""Record pages and the chatter through Django's test client: composer, envelope, resend dialog,
followers, attachments, tracking."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from chatter.models import (
    FailureType,
    Follower,
    Message,
    MessageSubtype,
    MessageType,
    Notification,
    NotificationStatus,
)
from demo.models import Lead
from mailcore.models import NotificationType, Partner
from mailqueue.models import Mail

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice_client() -> Client:
    user = get_user_model().objects.create_user("alice", email="alice@example.com", password="pw", first_name="Alice")
    client = Client()
    client.force_login(user)
    client.get(reverse("chatter:home"))  # gives the user a contact
    return client


@pytest.fixture
def alice(alice_client: Client) -> Partner:
    return Partner.objects.get(user__username="alice")


@pytest.fixture
def lead() -> Lead:
    return Lead.objects.create(name="Chairs for Globex")


@pytest.fixture
def bob(lead: Lead) -> Partner:
    bob = Partner.objects.create(name="Bob Customer", email="bob@example.com")
    lead.message_subscribe([bob])
    return bob


def ct() -> int:
    return ContentType.objects.get_for_model(Lead).pk


def detail(lead: Lead) -> str:
    return reverse("chatter:record_detail", args=["leads", lead.pk])


def _failed_message(lead: Lead, partner: Partner, author: Partner, reason: str = "550 5.1.1 User unknown") -> Message:
    message = lead.message_post(body="Quote attached", subtype="mt_comment", author=author, partner_ids=[partner.pk])
    Notification.objects.filter(message=message, res_partner=partner).update(
        notification_status=NotificationStatus.EXCEPTION,
        failure_type=FailureType.MAIL_EMAIL_INVALID,
        failure_reason=reason,
    )
    return message


# --- records ----------------------------------------------------------------------------------
def test_record_list_flags_records_with_delivery_failures(alice_client: Client, alice: Partner, bob: Partner) -> None:
    ok = Lead.objects.create(name="All fine")
    failing = Lead.objects.create(name="Has a failure")
    _failed_message(failing, bob, alice)
    html = alice_client.get(reverse("chatter:record_list", args=["leads"])).content.decode()
    assert f'data-record-id="{failing.pk}" class="has-failures"' in html
    assert f'data-record-id="{ok.pk}" >' in html
    assert "1 failed" in html
    only = alice_client.get(reverse("chatter:record_list", args=["leads"]), {"failures": "1"})
    assert [r.pk for r in only.context["page"].object_list] == [failing.pk]


def test_record_list_pages_keep_the_search_and_filter(alice_client: Client, alice: Partner, bob: Partner) -> None:
    # 51 failing "Globex" leads: two pages at 50 a page; the links must keep q and failures.
    for i in range(51):
        _failed_message(Lead.objects.create(name=f"Globex {i}"), bob, alice)
    Lead.objects.create(name="Globex, no failure")
    url = reverse("chatter:record_list", args=["leads"])
    first = alice_client.get(url, {"q": "globex", "failures": "1"}).content.decode()
    assert "1–50 of 51" in first
    assert 'href="?q=globex&amp;failures=1&amp;page=2">Next</a>' in first
    assert ">Previous</a>" not in first
    second = alice_client.get(url, {"q": "globex", "failures": "1", "page": "2"})
    assert len(second.context["page"].object_list) == 1
    assert 'href="?q=globex&amp;failures=1&amp;page=1">Previous</a>' in second.content.decode()


def test_unknown_record_type_and_record_are_404(alice_client: Client, lead: Lead) -> None:
    assert alice_client.get("/nothings/").status_code == 404
    assert alice_client.get(reverse("chatter:record_detail", args=["leads", 999999])).status_code == 404
    assert alice_client.get(reverse("chatter:record_by_content_type", args=[99999, lead.pk])).status_code == 404


def test_mail_link_opens_the_record(alice_client: Client, lead: Lead) -> None:
    response = alice_client.get(f"/records/{ct()}/{lead.pk}/")
    assert response.status_code == 302 and response["Location"] == detail(lead)


def test_create_and_edit_record_logs_tracking(alice_client: Client, alice: Partner) -> None:
    response = alice_client.post(
        reverse("chatter:record_create", args=["leads"]),
        {"name": "New opportunity", "stage": "new", "expected_revenue": "100"},
    )
    lead = Lead.objects.get(name="New opportunity")
    assert response["Location"] == detail(lead)
    alice_client.post(detail(lead), {"name": "New opportunity", "stage": "qualified", "expected_revenue": "100"})
    html = alice_client.get(detail(lead)).content.decode()
    tracking = Message.objects.filter(res_id=lead.pk, tracking_values__isnull=False).get()
    assert tracking.author == alice  # the middleware made Alice the acting contact
    assert 'class="old">New</span>' in html and 'class="new">Qualified</span>' in html


def test_incoming_email_is_shown_as_such(alice_client: Client, lead: Lead, bob: Partner) -> None:
    lead.message_post(
        body="<p>Any news?</p>",
        message_type=MessageType.EMAIL,
        subtype="mt_comment",
        author=bob,
        email_from="Bob Customer <bob@example.com>",
        subject="Re: chairs",
    )
    html = alice_client.get(detail(lead)).content.decode()
    assert "Incoming e-mail" in html and "From Bob Customer &lt;bob@example.com&gt;" in html
    assert "Re: chairs" in html


# --- composer ---------------------------------------------------------------------------------
def test_recipients_are_shown_before_sending(alice_client: Client, lead: Lead, bob: Partner) -> None:
    inbox_user = get_user_model().objects.create_user("carol")
    carol = Partner.objects.create(
        name="Carol App", email="carol@example.com", user=inbox_user, notification_type=NotificationType.INBOX
    )
    lead.message_subscribe([carol])
    response = alice_client.get(detail(lead))
    names = {(r.partner.name, r.in_app) for r in response.context["recipients_message"]}
    assert names == {("Bob Customer", False), ("Carol App", True)}
    assert response.context["recipients_note"] == []  # nobody follows notes
    html = response.content.decode()
    assert "bob@example.com" in html and "in app" in html


def test_send_message_notifies_followers_and_queues_mail(
    alice_client: Client, alice: Partner, lead: Lead, bob: Partner
) -> None:
    upload = SimpleUploadedFile("spec.pdf", b"%PDF-1.4 test", content_type="application/pdf")
    response = alice_client.post(
        reverse("chatter:message_post", args=[ct(), lead.pk]),
        {"mode": "message", "body": "Hello <Bob> & co", "attachments": [upload]},
        **HTMX,
    )
    assert response.status_code == 200
    message = Message.objects.filter(res_id=lead.pk, subtype__code="mt_comment").get()
    assert message.author == alice
    assert message.body == "<p>Hello &lt;Bob&gt; &amp; co</p>"  # plain text, escaped
    assert [a.name for a in message.attachments.all()] == ["spec.pdf"]
    assert Notification.objects.get(message=message).res_partner == bob
    assert Mail.objects.filter(message=message).count() == 1
    html = response.content.decode()
    assert f'id="envelope-{message.pk}"' in html and 'data-state="pending"' in html
    assert "every 2s" in html  # the pending envelope polls


def test_log_note_notifies_nobody(alice_client: Client, lead: Lead, bob: Partner) -> None:
    response = alice_client.post(
        reverse("chatter:message_post", args=[ct(), lead.pk]), {"mode": "note", "body": "Internal"}
    )
    assert response.status_code == 302 and response["Location"] == detail(lead)  # without htmx
    message = Message.objects.get(res_id=lead.pk, body="<p>Internal</p>")
    assert message.subtype.code == "mt_note" and message.is_internal
    assert not message.notifications.exists()


def test_empty_post_is_refused_with_a_message(alice_client: Client, lead: Lead) -> None:
    before = Message.objects.count()
    response = alice_client.post(
        reverse("chatter:message_post", args=[ct(), lead.pk]), {"mode": "message", "body": "  "}, **HTMX
    )
    assert "Write something or attach a file first." in response.content.decode()
    assert Message.objects.count() == before
    bad = alice_client.post(reverse("chatter:message_post", args=[ct(), lead.pk]), {"mode": "shout", "body": "x"})
    assert bad.status_code == 400


def test_attachment_download(alice_client: Client, alice: Partner, lead: Lead) -> None:
    message = lead.message_post(
        body="f", attachments=[("résumé <1>.html", b"<script>x</script>", "text/html")], author=alice
    )
    attachment = message.attachments.get()
    response = alice_client.get(reverse("chatter:attachment", args=[attachment.pk]))
    assert response.content == b"<script>x</script>"
    assert response["Content-Disposition"].startswith("attachment; ")
    assert "filename*=UTF-8''r%C3%A9sum%C3%A9%20%3C1%3E.html" in response["Content-Disposition"]
    assert alice_client.get(reverse("chatter:attachment", args=[999999])).status_code == 404


# --- envelope and resend ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("statuses", "state"),
    [
        (["sent", "sent"], "sent"),
        (["sent", "canceled"], "sent"),
        (["sent", "ready"], "pending"),
        (["ready", "exception"], "failed"),
        (["sent", "bounce"], "failed"),
    ],
)
def test_envelope_state(alice_client: Client, alice: Partner, lead: Lead, statuses: list[str], state: str) -> None:
    partners = [Partner.objects.create(name=f"R{i}", email=f"r{i}@example.com") for i in range(2)]
    message = lead.message_post(body="x", subtype="mt_comment", author=alice, partner_ids=[p.pk for p in partners])
    for partner, status in zip(partners, statuses, strict=True):
        Notification.objects.filter(message=message, res_partner=partner).update(notification_status=status)
    html = alice_client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    assert f'data-state="{state}"' in html
    assert ('hx-trigger="every 2s"' in html) is (state == "pending")
    assert ("Resend or ignore" in html) is (state == "failed")


def test_message_without_email_has_no_envelope(alice_client: Client, alice: Partner, lead: Lead) -> None:
    message = lead.message_post(body="note", author=alice)
    html = alice_client.get(detail(lead)).content.decode()
    assert f'id="envelope-{message.pk}"' not in html


def test_envelope_details_show_reason_and_full_error(
    alice_client: Client, alice: Partner, lead: Lead, bob: Partner
) -> None:
    message = _failed_message(lead, bob, alice, reason="Mail delivery failed via SMTP server 'mx'.\n550 5.1.1 nope")
    html = alice_client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    assert "Invalid email address" in html and "See Error Details" in html
    assert "550 5.1.1 nope" in html


def test_resend_dialog_send_and_close_updates_contact_and_requeues(
    alice_client: Client, alice: Partner, lead: Lead, bob: Partner
) -> None:
    dave = Partner.objects.create(name="Dave", email="dave@bad.example")
    message = _failed_message(lead, bob, alice)
    Notification.objects.create(
        message=message,
        res_partner=dave,
        notification_type="email",
        notification_status=NotificationStatus.BOUNCE,
        failure_type=FailureType.MAIL_BOUNCE,
    )
    url = reverse("chatter:resend", args=[message.pk])
    dialog = alice_client.get(url, **HTMX).content.decode()
    assert "Bob Customer" in dialog and "Dave" in dialog and "Send &amp; close" in dialog and "Ignore all" in dialog

    rows_before = set(Mail.objects.filter(message=message).values_list("pk", flat=True))
    response = alice_client.post(
        url,
        {
            "action": "send",
            f"retry_{bob.pk}": "1",
            f"email_{bob.pk}": "bob@globex.example",
            f"email_{dave.pk}": "dave@bad.example",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert "closeModal" in response["HX-Trigger"]
    assert 'data-state="pending"' in response.content.decode()
    bob.refresh_from_db()
    assert bob.email == "bob@globex.example"
    statuses = dict(
        Notification.objects.filter(message=message).values_list("res_partner__name", "notification_status")
    )
    assert statuses == {"Bob Customer": "ready", "Dave": "canceled"}
    # A new queue row carries Bob; the old one, left with nothing to send, is gone (auto-delete).
    (row,) = Mail.objects.filter(message=message)
    assert row.pk not in rows_before
    assert list(row.recipients.values_list("partner_id", "state")) == [(bob.pk, "pending")]


def test_resend_dialog_refuses_an_invalid_address(
    alice_client: Client, alice: Partner, lead: Lead, bob: Partner
) -> None:
    message = _failed_message(lead, bob, alice)
    response = alice_client.post(
        reverse("chatter:resend", args=[message.pk]),
        {"action": "send", f"retry_{bob.pk}": "1", f"email_{bob.pk}": "not an address"},
        **HTMX,
    )
    assert response["HX-Retarget"] == "#modal-content"
    assert "This e-mail address is not valid." in response.content.decode()
    assert 'value="not an address"' in response.content.decode()
    assert Notification.objects.get(message=message).notification_status == "exception"


def test_ignore_all_cancels_failures(alice_client: Client, alice: Partner, lead: Lead, bob: Partner) -> None:
    message = _failed_message(lead, bob, alice)
    response = alice_client.post(reverse("chatter:resend", args=[message.pk]), {"action": "ignore"}, **HTMX)
    assert 'data-state="sent"' in response.content.decode()
    assert Notification.objects.get(message=message).notification_status == NotificationStatus.CANCELED
    plain = alice_client.post(reverse("chatter:resend", args=[message.pk]), {"action": "ignore"})
    assert plain.status_code == 302


# --- followers --------------------------------------------------------------------------------
def test_follow_unfollow(alice_client: Client, alice: Partner, lead: Lead) -> None:
    url = reverse("chatter:followers", args=[ct(), lead.pk])
    alice_client.post(url, {"action": "follow"}, **HTMX)
    assert Follower.objects.filter(res_id=lead.pk, partner=alice).exists()
    alice_client.post(url, {"action": "unfollow"}, **HTMX)
    assert not Follower.objects.filter(res_id=lead.pk, partner=alice).exists()


def test_add_followers_existing_new_and_invalid(alice_client: Client, lead: Lead, bob: Partner) -> None:
    url = reverse("chatter:followers", args=[ct(), lead.pk])
    existing = Partner.objects.create(name="Erin", email="erin@example.com")
    alice_client.post(url, {"action": "add", "partner": "Erin <ERIN@example.com>"}, **HTMX)
    assert Follower.objects.filter(res_id=lead.pk, partner=existing).exists()
    response = alice_client.post(url, {"action": "add", "partner": "Frank New <frank@example.com>"}, **HTMX)
    frank = Partner.objects.get(email_normalized="frank@example.com")
    assert frank.name == "Frank New"
    assert Follower.objects.filter(res_id=lead.pk, partner=frank).exists()
    assert 'followers-menu" open' in response.content.decode()
    bad = alice_client.post(url, {"action": "add", "partner": "nobody"}, **HTMX)
    assert "Pick a contact or type an address" in bad.content.decode()


def test_remove_follower_and_choose_subtypes(alice_client: Client, lead: Lead, bob: Partner) -> None:
    follower = Follower.objects.get(res_id=lead.pk, partner=bob)
    note = MessageSubtype.objects.get(code="mt_note")
    stage = MessageSubtype.objects.get(code="demo.mt_lead_stage")
    url = reverse("chatter:follower_subtypes", args=[ct(), lead.pk, follower.pk])
    alice_client.post(url, {"subtypes": [note.pk, stage.pk]}, **HTMX)
    assert set(follower.subtypes.values_list("code", flat=True)) == {"mt_note", "demo.mt_lead_stage"}
    # A subtype of another model cannot be chosen.
    won = MessageSubtype.objects.get(code="demo.mt_ticket_solved")
    assert alice_client.post(url, {"subtypes": [won.pk]}, **HTMX).status_code == 400
    # Now the note reaches Bob: the composer says so before sending.
    assert [r.partner for r in alice_client.get(detail(lead)).context["recipients_note"]] == [bob]
    alice_client.post(reverse("chatter:follower_remove", args=[ct(), lead.pk, follower.pk]), **HTMX)
    assert not Follower.objects.filter(pk=follower.pk).exists()
    other = Lead.objects.create(name="Other")
    other_follower = other.message_subscribe([bob])[0]
    missing = reverse("chatter:follower_remove", args=[ct(), lead.pk, other_follower.pk])
    assert alice_client.post(missing).status_code == 404  # a follower of another record


def test_envelope_of_mail_waiting_for_the_daily_limit(
    alice_client: Client, alice: Partner, lead: Lead, bob: Partner
) -> None:
    message = lead.message_post(body="x", subtype="mt_comment", author=alice)
    Notification.objects.filter(message=message).update(
        failure_type=FailureType.MAIL_QUOTA, failure_reason="Daily limit reached. Sending resumes after 23:00 UTC."
    )
    html = alice_client.get(reverse("chatter:envelope", args=[message.pk])).content.decode()
    assert 'data-state="pending"' in html and "Waiting: daily limit" in html
    assert "Sending resumes after 23:00 UTC." in html
    assert 'hx-trigger="every 60s"' in html  # no need to ask every 2 s until the reset
