"""JSON API: records of the demo types (leads, quotations, tickets) and their red-envelope flag."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chatter import services
from chatter.models import FailureType, Message, Notification, NotificationStatus, TrackingValue
from demo.models import Lead, Quotation, Ticket
from mailcore.models import Partner
from tests.api_helpers import client_for, make_partner, make_user, notification_fail

pytestmark = pytest.mark.django_db

RECORD_TYPES: list[tuple[str, type[Any], dict[str, Any], dict[str, Any]]] = [
    ("leads", Lead, {"name": "Big deal", "expected_revenue": "1200.00"}, {"stage": "qualified"}),
    ("quotations", Quotation, {"name": "S00042", "amount_total": "99.90"}, {"state": "sent"}),
    ("tickets", Ticket, {"name": "Printer on fire", "priority": "3"}, {"stage": "in_progress"}),
]


@pytest.mark.parametrize(("path", "model", "create", "update"), RECORD_TYPES)
def test_anonymous_is_refused(path: str, model: type[Any], create: dict[str, Any], update: dict[str, Any]) -> None:
    record = model.objects.create(name="R")
    client = client_for(None)
    for response in (
        client.get(f"/api/{path}/"),
        client.post(f"/api/{path}/", create, format="json"),
        client.get(f"/api/{path}/{record.pk}/"),
        client.patch(f"/api/{path}/{record.pk}/", update, format="json"),
        client.get(f"/api/{path}/subtypes/"),
    ):
        assert response.status_code in (401, 403)
    assert model.objects.count() == 1


@pytest.mark.parametrize(("path", "model", "create", "update"), RECORD_TYPES)
def test_create_list_retrieve_update(
    path: str, model: type[Any], create: dict[str, Any], update: dict[str, Any]
) -> None:
    client = client_for(make_user("alice"))
    customer = make_partner("Customer")
    response = client.post(f"/api/{path}/", {**create, "customer": customer.pk}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["message_has_error"] is False
    assert body["customer"] == customer.pk
    record_id = body["id"]

    listed = client.get(f"/api/{path}/").json()
    assert listed["count"] == 1
    assert listed["results"][0]["id"] == record_id
    assert client.get(f"/api/{path}/{record_id}/").json()["name"] == create["name"]

    response = client.patch(f"/api/{path}/{record_id}/", update, format="json")
    assert response.status_code == 200, response.json()
    field, value = next(iter(update.items()))
    assert getattr(model.objects.get(pk=record_id), field) == value

    assert client.get(f"/api/{path}/999999/").status_code == 404
    assert client.delete(f"/api/{path}/{record_id}/").status_code == 405


def test_invalid_record_input_is_refused() -> None:
    client = client_for(make_user("alice"))
    response = client.post("/api/leads/", {"name": "X", "stage": "bogus", "customer": 424242}, format="json")
    assert response.status_code == 400
    errors = response.json()
    assert errors["stage"] == ['"bogus" is not a valid choice.']
    assert "does not exist" in errors["customer"][0]
    assert not Lead.objects.exists()


def test_tracked_change_through_the_api_is_authored_by_the_caller() -> None:
    alice = make_user("alice")
    lead = Lead.objects.create(name="Deal")
    response = client_for(alice).patch(f"/api/leads/{lead.pk}/", {"stage": "qualified"}, format="json")
    assert response.status_code == 200
    tracking = TrackingValue.objects.get(message__res_id=lead.pk, field_name="stage")
    assert (tracking.old_value_char, tracking.new_value_char) == ("New", "Qualified")
    assert tracking.message.author == Partner.objects.get(user=alice)


def test_a_user_without_contact_gets_one_from_its_user() -> None:
    bob = make_user("bob", with_partner=False, email="bob@corp.example")
    response = client_for(bob).post("/api/leads/", {"name": "Deal"}, format="json")
    assert response.status_code == 201
    partner = Partner.objects.get(user=bob)
    assert partner.email_normalized == "bob@corp.example"
    creation = Message.objects.get(res_id=response.json()["id"], model__model="lead")
    assert creation.author == partner


def _failed_message_on(record: Any, author: Partner, status: str = NotificationStatus.EXCEPTION) -> Message:
    recipient = make_partner()
    message = services.message_post(
        record=record, body="Hello", subtype="mt_comment", author=author, partner_ids=[recipient.pk]
    )
    notification = Notification.objects.get(message=message, res_partner=recipient)
    notification_fail(notification, failure_type=FailureType.MAIL_SMTP, failure_reason="boom")
    Notification.objects.filter(pk=notification.pk).update(notification_status=status)
    return message


@pytest.mark.parametrize("status", [NotificationStatus.EXCEPTION, NotificationStatus.BOUNCE])
def test_message_has_error_flag_and_filter(status: str) -> None:
    alice = make_user("alice")
    author = Partner.objects.get(user=alice)
    failing, fine = Lead.objects.create(name="Failing"), Lead.objects.create(name="Fine")
    _failed_message_on(failing, author, status)
    services.message_post(record=fine, body="ok", subtype="mt_comment", author=author, partner_ids=[make_partner().pk])
    # A failure on a ticket with the same id must not flag the lead: the model is part of the key.
    _failed_message_on(Ticket.objects.create(pk=fine.pk, name="T"), author, status)

    client = client_for(alice)
    flags = {r["name"]: r["message_has_error"] for r in client.get("/api/leads/").json()["results"]}
    assert flags == {"Failing": True, "Fine": False}
    assert client.get(f"/api/leads/{failing.pk}/").json()["message_has_error"] is True
    only_failed = client.get("/api/leads/", {"message_has_error": "true"}).json()["results"]
    assert [r["name"] for r in only_failed] == ["Failing"]
    without = client.get("/api/leads/", {"message_has_error": "false"}).json()["results"]
    assert [r["name"] for r in without] == ["Fine"]
    assert client.get("/api/leads/", {"message_has_error": "perhaps"}).status_code == 400


def test_message_has_error_clears_when_failures_are_cancelled() -> None:
    alice = make_user("alice")
    lead = Lead.objects.create(name="Deal")
    message = _failed_message_on(lead, Partner.objects.get(user=alice))
    client = client_for(alice)
    assert client.get(f"/api/leads/{lead.pk}/").json()["message_has_error"] is True
    services.message_cancel_failures(message=message)  # Odoo's "Ignore all"
    assert client.get(f"/api/leads/{lead.pk}/").json()["message_has_error"] is False


def test_record_list_query_count_does_not_grow_with_records(django_assert_max_num_queries: Any) -> None:
    alice = make_user("alice")
    author = Partner.objects.get(user=alice)
    client = client_for(alice)
    for index in range(3):
        _failed_message_on(Lead.objects.create(name=f"L{index}"), author)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/leads/").status_code == 200
    for index in range(30):
        lead = Lead.objects.create(name=f"M{index}")
        if index % 2:
            _failed_message_on(lead, author)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/api/leads/")
    assert response.json()["count"] == 33
