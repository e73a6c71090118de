"""A record with 1,000 messages renders its page with a query count that does not grow with them."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from bench.chatter import add_messages
from chatter.models import Message
from demo.models import Lead
from mailcore.models import Partner

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in() -> Client:
    user = get_user_model().objects.create_user("perf", email="perf@example.com", password="pw")
    client = Client()
    client.force_login(user)
    return client


def _queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_record_with_1000_messages_renders_in_bounded_queries(
    logged_in: Client, django_assert_max_num_queries: object
) -> None:
    partners = [Partner.objects.create(name=f"P{i}", email=f"p{i}@example.com") for i in range(5)]
    lead = Lead.objects.create(name="Big lead")
    add_messages(lead, 1000, partners)
    url = reverse("chatter:record_detail", args=["leads", lead.pk])
    logged_in.get(url)  # first request creates the user's contact
    with django_assert_max_num_queries(30):  # type: ignore[operator]
        response = logged_in.get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="msg ') == 30  # one page, the rest loads lazily
    assert "Load older messages" in html
    assert "Message number 999" in html and "Message number 969" not in html


def test_query_count_does_not_grow_with_messages(logged_in: Client) -> None:
    partners = [Partner.objects.create(name=f"P{i}", email=f"p{i}@example.com") for i in range(5)]
    small, big = Lead.objects.create(name="Small"), Lead.objects.create(name="Big")
    add_messages(small, 40, partners)
    add_messages(big, 1000, partners)
    small_url = reverse("chatter:record_detail", args=["leads", small.pk])
    big_url = reverse("chatter:record_detail", args=["leads", big.pk])
    logged_in.get(small_url)
    assert _queries_for(logged_in, small_url) == _queries_for(logged_in, big_url)

    # "Load older messages" pages cost the same too, deep in the thread as near its top.
    first = Message.objects.filter(res_id=big.pk).order_by("-date", "-id")
    near_top, deep = first[29].pk, first[900].pk
    page_url = reverse("chatter:message_page", args=[ContentType.objects.get_for_model(Lead).pk, big.pk])
    assert _queries_for(logged_in, f"{page_url}?before={near_top}") == _queries_for(
        logged_in, f"{page_url}?before={deep}"
    )


def test_load_more_walks_every_message_once(logged_in: Client) -> None:
    partners = [Partner.objects.create(name="Only", email="only@example.com")]
    lead = Lead.objects.create(name="Walk")
    # Equal dates everywhere: the keyset must still order by id and never repeat or skip.
    add_messages(lead, 95, partners)
    Message.objects.filter(res_id=lead.pk, model=ContentType.objects.get_for_model(Lead)).update(date=timezone.now())
    content_type_id = ContentType.objects.get_for_model(Lead).pk
    seen: list[int] = []
    before: int | None = None
    for _ in range(10):
        url = reverse("chatter:message_page", args=[content_type_id, lead.pk])
        response = logged_in.get(url, {"before": before} if before else {})
        page = response.context["page"]
        seen += [m.pk for m in page.messages]
        if not page.has_more:
            break
        before = page.next_cursor
    expected = list(
        Message.objects.filter(res_id=lead.pk, model_id=content_type_id).order_by("-id").values_list("pk", flat=True)
    )
    # The creation log of the lead is a message too.
    assert seen == expected
