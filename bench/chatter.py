#!/usr/bin/env python
"""Server time to render a record page whose chatter holds 1,000 and 10,000 messages.

    .venv/bin/python bench/chatter.py [--messages 1000,10000] [--requests 25] [--db auto|sqlite|postgresql]

Prints one line per thread size, then the ratio of the largest to the smallest:

    chatter: messages=1000 median_ms=<t> p90_ms=<t> queries=<q> requests=25 db=<sqlite|postgresql>
    chatter: messages=10000 median_ms=<t> p90_ms=<t> queries=<q> requests=25 db=<sqlite|postgresql>
    chatter_growth: db=<…> ratio=<median at 10000 / median at 1000> target=1.20

One lead per size gets its messages (authors, incoming e-mails, tracking values, attachments and
an e-mail notification each, one in 13 failed so envelopes turn red), all in one scratch database
(PostgreSQL when ``--db`` allows and 127.0.0.1:5432 answers, else SQLite). The record pages are
then requested through Django's test Client (the whole middleware and template stack, no
network), the sizes alternating request by request so that noise on this shared machine falls on
both alike; the median of ``--requests`` timed requests per size is reported, after warm-up. The
chatter shows the newest 30 messages and loads older ones lazily, so neither the time nor the
query count should grow with the thread. On PostgreSQL the tables are analysed after loading, as
autovacuum does in production.
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
    parser.add_argument("--messages", default="1000,10000", help="comma-separated thread sizes")
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--db", choices=["auto", "sqlite", "postgresql"], default="auto")
    parser.add_argument("--no-analyze", action="store_true", help="measure tables that were never analysed")
    args = parser.parse_args()
    sizes = sorted({int(n) for n in args.messages.split(",")})

    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-chatter-"))
    from bench.scratch import choose_database, drop_database

    name = f"mc_bench_chatter_{os.getpid()}"  # one per run: two runs never drop each other's
    url, kind = choose_database(args.db, scratch, name)
    try:
        run(sizes, args.requests, scratch, url, analyze=not args.no_analyze)
    finally:
        drop_database(kind, name)
        shutil.rmtree(scratch, ignore_errors=True)


def run(sizes: list[int], request_count: int, scratch: Path, database_url: str, *, analyze: bool) -> None:
    os.environ["DATABASE_URL"] = database_url
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
    urls = {}
    for size in sizes:
        lead = Lead.objects.create(name=f"Benchmark lead with {size} messages")
        lead.message_subscribe(partners)
        add_messages(lead, size, partners)
        urls[size] = reverse("chatter:record_detail", args=["leads", lead.pk])
    if analyze and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    client = Client()
    client.force_login(user)
    for url in urls.values():
        for _ in range(3):  # warm-up: the user's contact, template and content-type caches
            assert client.get(url).status_code == 200
    timings: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(request_count):
        for size, url in urls.items():
            started = time.perf_counter()
            response = client.get(url)
            timings[size].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
    medians = {}
    for size, url in urls.items():
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        values = sorted(timings[size])
        medians[size] = statistics.median(values)
        p90 = values[min(len(values) - 1, int(len(values) * 0.9))]
        print(
            f"chatter: messages={size} median_ms={medians[size]:.1f} p90_ms={p90:.1f} "
            f"queries={len(queries.captured_queries)} requests={request_count} db={connection.vendor}"
        )
    if len(sizes) > 1:
        ratio = medians[sizes[-1]] / medians[sizes[0]]
        print(f"chatter_growth: db={connection.vendor} sizes={sizes[0]}->{sizes[-1]} ratio={ratio:.2f} target=1.20")
    print(language_line(urls[sizes[0]], sizes[0], request_count, user, connection.vendor))


def language_line(url: str, size: int, request_count: int, english_user: Any, vendor: str) -> str:
    """The same page for an English and a Japanese user, requests alternated in one run.

    Translation should cost nothing measurable: the catalogues are loaded once per process, and
    the page renders the same templates with other strings.
    """
    from django.contrib.auth import get_user_model
    from django.test import Client

    from chatter.ui_services import partner_for_user

    japanese_user = get_user_model().objects.create_user("bench-ja", email="ja@example.com", password="x")
    partner = partner_for_user(japanese_user)
    partner.lang = "ja"
    partner.save(update_fields=["lang"])
    clients = {"en": Client(), "ja": Client()}
    clients["en"].force_login(english_user)
    clients["ja"].force_login(japanese_user)
    for lang, client in clients.items():
        for _ in range(3):
            response = client.get(url)
            assert response.status_code == 200 and response["Content-Language"] == lang
    timings: dict[str, list[float]] = {"en": [], "ja": []}
    for _ in range(request_count):
        for lang, client in clients.items():
            started = time.perf_counter()
            client.get(url)
            timings[lang].append((time.perf_counter() - started) * 1000)
    en, ja = statistics.median(timings["en"]), statistics.median(timings["ja"])
    return (
        f"chatter_languages: messages={size} en_median_ms={en:.1f} ja_median_ms={ja:.1f} "
        f"ratio_ja_en={ja / en:.2f} requests={request_count} db={vendor}"
    )


if __name__ == "__main__":
    main()
