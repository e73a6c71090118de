#!/usr/bin/env python
"""Server time to render a record page whose chatter holds 1,000 messages.

    .venv/bin/python bench/chatter.py [--messages 1000] [--requests 25]     # or: make bench

Prints one line:

    chatter: messages=1000 median_ms=<t> p90_ms=<t> queries=<q> requests=25 db=<sqlite|postgresql> target_ms=150

A lead gets ``--messages`` messages (authors, incoming e-mails, tracking values, attachments and
an e-mail notification each, one in 13 failed so envelopes turn red); the record page is then
requested through Django's test Client (the whole middleware and template stack, no network)
and the median of ``--requests`` timed requests is reported, after warm-up requests. The chatter
shows the newest 30 messages and loads older ones lazily, so the time and the query count do not
grow with the thread. The database is a scratch SQLite file unless ``DATABASE_URL`` is set (it
must then point at an empty database the bench may migrate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def add_messages(lead: Any, count: int, partners: list[Any]) -> None:
    """``count`` messages on ``lead``: varied authors and types, files, tracking, e-mail notifications."""
    from django.contrib.contenttypes.models import ContentType
    from django.utils import timezone

    from chatter.models import (
        Attachment,
        FailureType,
        Message,
        MessageSubtype,
        MessageType,
        Notification,
        NotificationKind,
        NotificationStatus,
        TrackingValue,
    )

    content_type = ContentType.objects.get_for_model(type(lead))
    comment = MessageSubtype.objects.get(code="mt_comment")
    start = timezone.now() - dt.timedelta(days=30)
    messages = Message.objects.bulk_create(
        Message(
            model=content_type,
            res_id=lead.pk,
            record_name=lead.name,
            message_type=MessageType.EMAIL if i % 10 == 0 else MessageType.COMMENT,
            subtype=comment,
            author=partners[i % len(partners)],
            email_from=partners[i % len(partners)].email,
            body=f"<p>Message number {i}</p>",
            date=start + dt.timedelta(minutes=i),
        )
        for i in range(count)
    )
    attachments = Attachment.objects.bulk_create(
        Attachment(name=f"file-{i}.txt", datas=b"x" * 10, file_size=10) for i in range(0, count, 5)
    )
    through = Message.attachments.through
    through.objects.bulk_create(
        through(message_id=messages[i * 5].pk, attachment_id=a.pk) for i, a in enumerate(attachments)
    )
    TrackingValue.objects.bulk_create(
        TrackingValue(
            message=m,
            field_name="stage",
            field_desc="Stage",
            field_type="CharField",
            old_value_char="New",
            new_value_char="Qualified",
        )
        for m in messages[::7]
    )
    Notification.objects.bulk_create(
        Notification(
            message=m,
            res_partner=partners[(i + 1) % len(partners)],
            notification_type=NotificationKind.EMAIL,
            notification_status=NotificationStatus.EXCEPTION if i % 13 == 0 else NotificationStatus.SENT,
            failure_type=FailureType.MAIL_SMTP if i % 13 == 0 else "",
            failure_reason="550 5.1.1 User unknown" if i % 13 == 0 else "",
            is_read=True,
        )
        for i, m in enumerate(messages)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=25)
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-chatter-"))
    try:
        run(args.messages, args.requests, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run(message_count: int, request_count: int, scratch: Path) -> None:
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}")
    os.environ["MAILCORE_VAR_DIR"] = str(scratch)
    os.environ["MAILCORE_LOG_FILE"] = ""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from demo.models import Lead
    from mailcore.models import Partner

    call_command("migrate", verbosity=0)
    user = get_user_model().objects.create_user("bench", email="bench@example.com", password="x")
    partners = [Partner.objects.create(name=f"Contact {i}", email=f"contact{i}@example.com") for i in range(8)]
    lead = Lead.objects.create(name="Benchmark lead")
    lead.message_subscribe(partners)
    add_messages(lead, message_count, partners)

    client = Client()
    client.force_login(user)
    url = reverse("chatter:record_detail", args=["leads", lead.pk])
    for _ in range(3):  # warm-up: the user's contact, template and content-type caches
        assert client.get(url).status_code == 200
    timings = []
    for _ in range(request_count):
        started = time.perf_counter()
        response = client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    timings.sort()
    p90 = timings[min(len(timings) - 1, int(len(timings) * 0.9))]
    print(
        f"chatter: messages={message_count} median_ms={statistics.median(timings):.1f} p90_ms={p90:.1f} "
        f"queries={len(queries.captured_queries)} requests={request_count} db={connection.vendor} target_ms=150"
    )


if __name__ == "__main__":
    main()
