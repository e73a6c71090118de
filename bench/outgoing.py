#!/usr/bin/env python
"""Outgoing mail throughput against django-post-office, django-mailer and a plain smtplib loop.

    make bench              # or: .venv-bench/bin/python bench/outgoing.py [--count 10000] [--rounds 3]
    .venv-bench/bin/python bench/outgoing.py --sides mailcore_sync --count 3000   # one side only

Every side sends ``--count`` messages to one Postfix ``smtp-sink`` (it counts messages on stdout
and is far faster than any sender here):

- **mailcore**: one message posted (``urgent=False``) on a record with ``--count`` followers
  queues ``--count`` e-mail notifications; ``--workers`` processes run the Email Queue Manager
  (``mailqueue.sender.process_email_queue``). Twice per round: with synchronous commits
  (``MAILQUEUE_ASYNCHRONOUS_COMMIT = False``: every "sent" mark waits for the disk, the durable
  setup and the headline figure) and with asynchronous ones (the default).
- **post_office**: django-post-office's DEFAULT setup: ``send_queued_mail_until_done`` with one
  process (its command's default), its default batch of 100 and 5 threads per process; the mails
  queued with ``send_many``.
- **mailer**: django-mailer's ``send_all`` (what its ``send_mail`` command runs), one process.
- **smtplib**: one process, one SMTP connection, ``sendmail`` in a loop over messages built with
  the standard library before the clock starts: no database at all.

Every side sends the same subject, text part and HTML part: mailcore's own rendering of the post
(its notification layout included) is read back and handed to the peers, so the messages'
sizes match within a few percent; they are printed. A side's time runs from the moment its
already-started process(es) are told to go until the sink has all its messages *and* every
process has exited, i.e. its bookkeeping is written (for mailcore, every notification ``sent``).

Each round runs every side once, in an order rotated from round to round, so a load change on
this shared machine hits all sides alike; the ratios are computed per round (mailcore's rate over
the peer's, in the same round) and their MEDIAN is printed. Output (stdout; progress on stderr):

    outgoing_sizes: mailcore=<bytes> post_office=<bytes> mailer=<bytes> smtplib=<bytes>
    outgoing_round: round=<r> mailcore_sync=<rate>/s mailcore_async=<rate>/s post_office=… mailer=… smtplib=…
    outgoing_rates: n=<count> rounds=<r> db=<..> workers=<k> mailcore_sync=<median>/s … (medians)
    outgoing_commit: mailcore_sync=server_default=on,switched_off=0 mailcore_async=server_default=on,switched_off=<k>
    post_10k_followers: seconds=<t> queries=<q> (queries with 100 followers=<q100>)
    outgoing: commit=async ratio_post_office=<X> ratio_mailer=<Y> ratio_smtplib=<Z>
    outgoing_targets: commit=sync ratio_post_office>=4 ratio_mailer>=12 ratio_smtplib>=2
    outgoing: commit=sync ratio_post_office=<X> ratio_mailer=<Y> ratio_smtplib=<Z>

The last line is the headline (durable commits) and is always last, for scripts. PostgreSQL at
127.0.0.1:5432 is used when it answers (a scratch database ``mc_bench_outgoing_<pid>``, dropped
at the end), else SQLite (where the commit mode does not exist: both mailcore lines then measure
the same thing). The commit mode is checked, not assumed: each mailcore worker reads
``SHOW synchronous_commit`` on its connection and counts the statements that switch it off
while sending (``outgoing_commit``); a synchronous side that switched it off, or a server whose
default is not ``on``, or an asynchronous side that never switched it off, stops the run.
Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import choose_database, drop_database, log, own_peak_rss_kb  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
# One scratch database per run, so two benchmarks on one machine never drop each other's.
PG_BENCH_DB = f"mc_bench_outgoing_{os.getpid()}"
OUR_SETTINGS = "config.settings.base"
PEER_SETTINGS = "bench.postoffice_settings"

SIDES = ["mailcore_sync", "mailcore_async", "post_office", "mailer", "smtplib"]
PEERS = ["post_office", "mailer", "smtplib"]
# The acceptance targets, with synchronous commits (printed so the gap shows, not enforced).
# How the sender's session is switched to asynchronous commits (SET … TO off, or = off).
SWITCH_OFF = re.compile(r"synchronous_commit\s*(TO|=)\s*'?off", re.IGNORECASE)
# Headers every sender writes itself; mailcore's others are copied onto the peers' messages.
OWN_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
}
TARGETS = {"post_office": 4, "mailer": 12, "smtplib": 2}

SUBJECT = "Office Design Project: new proposal"
BODY = (
    "<p>Hello,</p><p>Please find below the updated proposal for the <b>Office Design Project</b>: "
    "12 desks, 12 chairs and 4 cabinets, delivered and installed within three weeks of your "
    "approval. The quotation stays valid for 30 days.</p><p>Best regards,<br>Mitchell Admin</p>"
)


# --- the sink ------------------------------------------------------------------------------------
class SmtpSink:
    """Postfix's smtp-sink with ``-c``: it prints ``sess=.. quit=.. mesg=N`` after every message."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.count = 0
        self.changed = threading.Condition()
        argv = [SMTP_SINK, "-c"]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to keep root privileges
        argv += [f"127.0.0.1:{port}", "1000"]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("smtp-sink did not start")

    def _read(self) -> None:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        pending = b""
        pattern = re.compile(rb"mesg=(\d+)")
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            pending += chunk
            *records, pending = pending.split(b"\r")
            for record in reversed(records):
                match = pattern.search(record)
                if match:
                    with self.changed:
                        self.count = int(match.group(1))
                        self.changed.notify_all()
                    break

    def wait_for(self, target: int, timeout: float) -> float | None:
        """The monotonic time at which the sink had ``target`` messages, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while self.count < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.changed.wait(min(remaining, 0.5))
            return time.monotonic()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


# --- workers (run as: bench/outgoing.py --worker SIDE) ----------------------------------------------
def worker_main(side: str, lockfile: str, content_file: str, count: int, port: int) -> None:
    """Get ready (Django set up, or the messages built), say ``ready``, wait for ``go``, send."""
    if side == "smtplib":
        smtplib_worker(content_file, count, port)
        return
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    connection.ensure_connection()
    commit_statements: list[str] = []
    server_default = ""
    if side.startswith("mailcore"):
        # Said here as well as in the environment: whichever way the settings read it, this
        # worker runs in the mode asked for, and what reached PostgreSQL is reported back.
        settings.MAILQUEUE_ASYNCHRONOUS_COMMIT = side == "mailcore_async"
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW synchronous_commit")
                server_default = cursor.fetchone()[0]

    def watch(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if "synchronous_commit" in sql:
            commit_statements.append(sql)
        return execute(sql, params, many, context)

    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    if side.startswith("mailcore"):
        from mailqueue.sender import process_email_queue

        with connection.execute_wrapper(watch):
            result = process_email_queue(time_budget=3600)
        print(
            json.dumps(
                {
                    "done": result.done,
                    "remaining": result.remaining,
                    "server_synchronous_commit": server_default,
                    "switched_off": sum(1 for sql in commit_statements if SWITCH_OFF.search(sql)),
                    "commit_statements": commit_statements[:5],
                    "peak_kb": own_peak_rss_kb(),
                }
            ),
            flush=True,
        )
    elif side == "post_office":
        from post_office.mail import send_queued_mail_until_done

        send_queued_mail_until_done(lockfile=lockfile)  # its default: one process
        print(json.dumps({"done": True}), flush=True)
    else:
        from mailer.engine import send_all

        send_all()
        print(json.dumps({"done": True}), flush=True)


def smtplib_messages(content: dict[str, Any], count: int) -> list[tuple[str, bytes]]:
    """(recipient, bytes) of ``count`` messages built with the standard library alone."""
    messages = []
    for i in range(count):
        msg = EmailMessage(policy=policy.SMTP)
        msg["From"] = content["from"]
        msg["To"] = f"Customer {i} <customer{i}@bench.example>"
        msg["Subject"] = content["subject"]
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = make_msgid(domain="mailcore.localhost")
        for name, value in content["headers"].items():
            msg[name] = value
        msg.set_content(content["text"])
        msg.add_alternative(content["html"], subtype="html")
        messages.append((f"customer{i}@bench.example", msg.as_bytes()))
    return messages


def smtplib_worker(content_file: str, count: int, port: int) -> None:
    content = json.loads(Path(content_file).read_text(encoding="utf-8"))
    messages = smtplib_messages(content, count)
    sender = parseaddr(content["from"])[1]
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        for recipient, raw in messages:
            client.sendmail(sender, [recipient], raw)
    print(json.dumps({"done": True}), flush=True)


class Workers:
    def __init__(self, argvs: list[list[str]], env: dict[str, str], logdir: Path, name: str) -> None:
        self.logs = [logdir / f"{name}-{i}.log" for i in range(len(argvs))]
        self.processes = [
            subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_path.open("wb"),
                text=True,
            )
            for argv, log_path in zip(argvs, self.logs, strict=True)
        ]

    def wait_ready(self, timeout: float = 120) -> None:
        for process in self.processes:
            assert process.stdout is not None
            line = _readline(process, timeout)
            if line.strip() != "ready":
                raise RuntimeError(f"worker did not start: {line!r}\n{self.tail()}")

    def go(self) -> None:
        for process in self.processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()

    def wait_done(self, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        for process in self.processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired as exc:
                raise RuntimeError(f"worker still running after {timeout}s\n{self.tail()}") from exc
        finished = time.monotonic()
        failed = [p.returncode for p in self.processes if p.returncode]
        if failed:
            raise RuntimeError(f"worker exited with {failed}\n{self.tail()}")
        return finished

    def reports(self) -> list[dict[str, Any]]:
        """The JSON line each exited process printed last."""
        found = []
        for process in self.processes:
            assert process.stdout is not None
            lines = [line for line in process.stdout.read().splitlines() if line.startswith("{")]
            if lines:
                found.append(json.loads(lines[-1]))
        return found

    def kill(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)

    def tail(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-3000:]}" for p in self.logs if p.exists())


def _readline(process: subprocess.Popen[str], timeout: float) -> str:
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    return result[0] if result else ""


# --- the run's surroundings ------------------------------------------------------------------------
def make_scratch() -> Path:
    """A temporary directory for the run: the filesystem broker's folders, logs, SQLite."""
    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-"))
    (scratch / "broker" / "out").mkdir(parents=True)
    (scratch / "broker" / "processed").mkdir(parents=True)
    return scratch


def bench_env(database_url: str, scratch: Path, port: int) -> dict[str, str]:
    """The environment of the run and its workers: the scratch database, the sink as the built-in server."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": "filesystem://",
        "MAILCORE_VAR_DIR": str(scratch),
        "MAILCORE_LOG_FILE": "",
        "MAILCORE_LOG_LEVEL": "WARNING",
        "MAILCORE_SMTP_HOST": "127.0.0.1",
        "MAILCORE_SMTP_PORT": str(port),
        # The built-in server's quota is still counted for every mail, but must not stop the run.
        "MAILCORE_DAILY_LIMIT": str(10**9),
        "MAILER_LOCK_PATH": str(scratch / "mailer"),
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": PEER_SETTINGS,
        "PYTHONPATH": str(ROOT),
    }


# --- the measurements ----------------------------------------------------------------------------
def make_followers(record: Any, partners: list[Any]) -> None:
    """Follow ``record`` with ``partners`` for Discussions, in bulk (setup, not measured)."""
    from django.contrib.contenttypes.models import ContentType

    from chatter.models import Follower, MessageSubtype

    model = ContentType.objects.get_for_model(record)
    comment = MessageSubtype.objects.get(code="mt_comment")
    followers = Follower.objects.bulk_create(
        [Follower(model=model, res_id=record.pk, partner=p) for p in partners], batch_size=2000
    )
    through = Follower.subtypes.through
    through.objects.bulk_create(
        [through(follower_id=f.pk, messagesubtype_id=comment.pk) for f in followers], batch_size=5000
    )


def post(record: Any, author: Any) -> tuple[Any, float, int]:
    """Post one comment on ``record``; returns (message, seconds, queries)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        message = record.message_post(
            body=BODY, subject=SUBJECT, subtype="mt_comment", message_type="comment", author=author, urgent=False
        )
        seconds = time.perf_counter() - start
    return message, seconds, len(queries)


def seed_ours(count: int) -> dict[str, Any]:
    """Contacts, a record with ``count`` followers, and the query count of a 100-follower post."""
    from demo.models import Lead
    from mailcore.models import Partner
    from mailqueue.models import Mail

    author = Partner.objects.create(name="Mitchell Admin", email="admin@mailcore.localhost")
    partners = Partner.objects.bulk_create(
        [
            Partner(
                name=f"Customer {i}", email=f"customer{i}@bench.example", email_normalized=f"customer{i}@bench.example"
            )
            for i in range(count)
        ],
        batch_size=2000,
    )
    small = Lead.objects.create(name="Small lead")
    make_followers(small, partners[:100])
    small_message, _, queries_100 = post(small, author)
    # Only the big posts are sent: drop the small one's rows.
    Mail.objects.filter(message=small_message).delete()

    lead = Lead.objects.create(name="Office Design Project")
    make_followers(lead, partners)
    return {"author": author, "lead": lead, "queries_100": queries_100}


def post_big(setup: dict[str, Any], count: int) -> dict[str, Any]:
    """Post once on the big record (measured); ``count`` recipients must be queued."""
    from mailqueue.models import MailRecipient

    message, seconds, queries = post(setup["lead"], setup["author"])
    queued = MailRecipient.objects.filter(mail__message=message).count()
    if queued != count:
        raise RuntimeError(f"posting queued {queued} recipients, expected {count}")
    return {"message_id": message.pk, "seconds": seconds, "queries": queries}


def mailcore_content(message_id: int) -> tuple[dict[str, Any], int]:
    """Subject, text and HTML parts of mailcore's message to one follower, and its size on the wire."""
    from mailqueue.models import Mail
    from mailqueue.sender.build import render_unsent

    mail = Mail.objects.filter(message_id=message_id).order_by("pk").first()
    if mail is None:
        raise RuntimeError("the post queued no mail")
    raw = render_unsent(mail)
    parsed = message_from_bytes(raw, policy=policy.default)
    text = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    if text is None or html is None:
        raise RuntimeError("mailcore's message has no text and HTML parts to give the peers")
    # Its threading and routing headers travel with the peers' messages too, so that every side
    # sends as many bytes; each sender still writes its own From/To/Subject/Date/Message-ID.
    headers = {name: str(value) for name, value in parsed.items() if name.lower() not in OWN_HEADERS}
    content = {
        "from": str(parsed["From"]),
        "subject": str(parsed["Subject"]),
        "text": text.get_content(),  # type: ignore[attr-defined]
        "html": html.get_content(),  # type: ignore[attr-defined]
        "headers": headers,
    }
    return content, len(raw)


def seed_post_office(count: int, content: dict[str, Any]) -> int:
    """Queue ``count`` e-mails with post_office's ``send_many``; returns one message's size."""
    from post_office import mail
    from post_office.models import Email

    for start in range(0, count, 1000):
        mail.send_many(
            [
                {
                    "sender": content["from"],
                    "recipients": [f"Customer {i} <customer{i}@bench.example>"],
                    "subject": content["subject"],
                    "message": content["text"],
                    "html_message": content["html"],
                    "headers": content["headers"],
                }
                for i in range(start, min(start + 1000, count))
            ]
        )
    sample = Email.objects.order_by("-pk").first()
    assert sample is not None
    return len(sample.email_message().message().as_bytes())


def seed_mailer(count: int, content: dict[str, Any]) -> int:
    """Queue ``count`` e-mails as django-mailer's ``send_html_mail`` does (in bulk); returns one's size."""
    from django.core.mail import EmailMultiAlternatives
    from mailer import get_priority
    from mailer.models import Message, make_message

    priority = get_priority(None)  # send_html_mail's default
    rows = []
    for i in range(count):
        row = make_message(
            subject=content["subject"], body=content["text"], from_email=content["from"], priority=priority
        )
        email = EmailMultiAlternatives(
            content["subject"],
            content["text"],
            content["from"],
            [f"Customer {i} <customer{i}@bench.example>"],
            headers=content["headers"],
        )
        email.attach_alternative(content["html"], "text/html")
        row.email = email
        rows.append(row)
    Message.objects.bulk_create(rows, batch_size=1000)
    return len(rows[0].email.message().as_bytes())


def run_side(
    name: str, argvs: list[list[str]], env: dict[str, str], sink: SmtpSink, count: int, scratch: Path, timeout: float
) -> tuple[float, list[dict[str, Any]]]:
    """Seconds from "go" to the sink holding ``count`` more messages and every process gone; their reports."""
    workers = Workers(argvs, env, scratch, name)
    try:
        workers.wait_ready()
        base = sink.count
        start = time.monotonic()
        workers.go()
        reached = sink.wait_for(base + count, timeout)
        if reached is None:
            raise RuntimeError(f"{name}: the sink got {sink.count - base} of {count} in {timeout}s\n{workers.tail()}")
        finished = workers.wait_done(timeout)
        return max(reached, finished) - start, workers.reports()
    finally:
        workers.kill()


def check_mailcore(side: str, message_id: int, count: int, reports: list[dict[str, Any]], vendor: str) -> str:
    """Every notification sent and the commit mode in force; returns what was seen of the mode."""
    from chatter.models import Notification
    from mailqueue.models import Mail

    sent = Notification.objects.filter(message_id=message_id, notification_status="sent").count()
    left = Mail.objects.filter(message_id=message_id).exclude(state="sent").count()
    if sent != count or left:
        raise RuntimeError(f"{side}: {sent} notifications sent of {count}, {left} rows not sent")
    return check_commit(side, reports, vendor)


def check_commit(side: str, reports: list[dict[str, Any]], vendor: str) -> str:
    """The commit mode the senders' sessions had is the one ``side`` asked for; returns what was seen."""
    if vendor != "postgresql":
        return "n/a(sqlite)"
    # The commit mode must have reached PostgreSQL: asynchronous switches the sender's session to
    # "off", synchronous never touches the server's default, which must be "on" (durable).
    statements = [s for r in reports for s in r.get("commit_statements", [])]
    switched_off = sum(r.get("switched_off", 0) for r in reports)
    defaults = {r.get("server_synchronous_commit") for r in reports}
    if side == "mailcore_async" and not switched_off:
        raise RuntimeError(f"{side}: the sender never set synchronous_commit off ({statements[:3]})")
    if side == "mailcore_sync" and (switched_off or defaults != {"on"}):
        raise RuntimeError(f"{side}: commits were not synchronous (server default {defaults}, {statements[:3]})")
    return f"server_default={'/'.join(sorted(map(str, defaults)))},switched_off={switched_off}"


def check_peer(side: str, total: int) -> None:
    if side == "post_office":
        from post_office.models import STATUS, Email

        sent = Email.objects.filter(status=STATUS.sent).count()
    elif side == "mailer":
        from mailer.models import RESULT_SUCCESS, Message, MessageLog

        if Message.objects.exists():
            raise RuntimeError(f"mailer: {Message.objects.count()} messages still queued")
        sent = MessageLog.objects.filter(result=RESULT_SUCCESS).count()
    else:
        return
    if sent != total:
        raise RuntimeError(f"{side}: {sent} e-mails sent of {total}")


def median_ratio(ours: list[float], peer: list[float]) -> float:
    """The median of the per-round ratios ours/peer: each round's two rates met the same load."""
    return statistics.median(a / b for a, b in zip(ours, peer, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="messages each side sends per round")
    parser.add_argument(
        "--workers", type=int, default=2, help="mailcore's sending processes (the peers: their defaults)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median of the per-round ratios is printed")
    parser.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per side")
    parser.add_argument(
        "--sides",
        default=",".join(SIDES),
        help="comma-separated sides to run (default: all; the ratio lines need mailcore's and the peer's)",
    )
    parser.add_argument("--worker", choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument("--lockfile", default="", help=argparse.SUPPRESS)
    parser.add_argument("--content", default="", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.lockfile, args.content, args.count, args.port)
        return 0
    sides = [side for side in SIDES if side in args.sides.split(",")]
    unknown = set(args.sides.split(",")) - set(SIDES)
    if unknown or not sides:
        parser.error(f"--sides: choose among {', '.join(SIDES)}")

    if not Path(SMTP_SINK).exists():
        log("smtp-sink not found: install Debian's postfix package (`make bench` does)")
        return 2
    scratch = make_scratch()
    database_url, db_kind = choose_database(args.db, scratch, PG_BENCH_DB)
    port = free_port()
    env = bench_env(database_url, scratch, port)
    os.environ.update(env)
    sink: SmtpSink | None = None
    seconds: dict[str, list[float]] = {side: [] for side in sides}
    posts: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    commit_seen: dict[str, str] = {}  # side → the synchronous_commit the sender's sessions had
    try:
        log(f"migrating a scratch {db_kind} database")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600)
        import django

        django.setup()
        from django.db import connection, connections

        from mailqueue.models import Mail

        sink = SmtpSink(port)
        log(f"preparing a record with {args.count} followers")
        setup = seed_ours(args.count)
        me = [sys.executable, str(Path(__file__).resolve())]
        # The peers send what mailcore sends: render one follower's message (untimed, then dropped).
        first = post_big(setup, args.count)
        content, sizes["mailcore"] = mailcore_content(first["message_id"])
        Mail.objects.filter(message_id=first["message_id"]).delete()
        content_file = scratch / "content.json"
        content_file.write_text(json.dumps(content), encoding="utf-8")
        peers_sent = {"post_office": 0, "mailer": 0}
        for round_number in range(1, args.rounds + 1):
            shift = (round_number - 1) % len(sides)
            order = sides[shift:] + sides[:shift]
            for side in order:
                reports: list[dict[str, Any]] = []
                if side.startswith("mailcore"):
                    ours = post_big(setup, args.count)
                    posts.append(ours)
                    argvs = [[*me, "--worker", side] for _ in range(args.workers)]
                    side_env = {
                        **env,
                        "DJANGO_SETTINGS_MODULE": OUR_SETTINGS,
                        "MAILQUEUE_ASYNCHRONOUS_COMMIT": "1" if side == "mailcore_async" else "0",
                    }
                else:
                    if side == "post_office":
                        sizes[side] = seed_post_office(args.count, content)
                    elif side == "mailer":
                        sizes[side] = seed_mailer(args.count, content)
                    else:
                        sizes[side] = len(smtplib_messages(content, 1)[0][1])
                    argvs = [
                        [
                            *me,
                            "--worker",
                            side,
                            "--lockfile",
                            str(scratch / "post_office"),
                            "--content",
                            str(content_file),
                            "--count",
                            str(args.count),
                            "--port",
                            str(port),
                        ]
                    ]
                    side_env = env
                connections.close_all()
                log(f"round {round_number}/{args.rounds} {side}: sending {args.count}")
                took, reports = run_side(side, argvs, side_env, sink, args.count, scratch, args.timeout)
                seconds[side].append(took)
                if side.startswith("mailcore"):
                    seen = check_mailcore(side, posts[-1]["message_id"], args.count, reports, connection.vendor)
                    commit_seen.setdefault(side, seen)
                elif side in peers_sent:
                    peers_sent[side] += args.count
                    check_peer(side, peers_sent[side])
                connections.close_all()
            log(
                f"round {round_number}: "
                + ", ".join(f"{side} {args.count / seconds[side][-1]:.0f}/s" for side in sides)
            )
    finally:
        if sink is not None:
            sink.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # Django may not be set up yet
            pass
        drop_database(db_kind, PG_BENCH_DB)
        shutil.rmtree(scratch, ignore_errors=True)

    rates = {side: [args.count / s for s in seconds[side]] for side in sides}
    print(
        "outgoing_sizes: "
        + " ".join(f"{side}={sizes[side]}" for side in ["mailcore", *PEERS] if side in sizes)
        + " (bytes per message)"
    )
    for index in range(args.rounds):
        print(f"outgoing_round: round={index + 1} " + " ".join(f"{side}={rates[side][index]:.0f}/s" for side in sides))
    print(
        f"outgoing_rates: n={args.count} rounds={args.rounds} db={db_kind} workers={args.workers} "
        + " ".join(f"{side}={statistics.median(rates[side]):.0f}/s" for side in sides)
        + " (medians)"
    )
    # What the sender's sessions did: asynchronous switches them off (times counted), synchronous
    # keeps the server's default, which must be "on".
    print(
        "outgoing_commit: "
        + " ".join(f"{side}={commit_seen[side]}" for side in ["mailcore_sync", "mailcore_async"] if side in commit_seen)
    )
    if posts:
        post_seconds = statistics.median(p["seconds"] for p in posts)
        post_queries = max(p["queries"] for p in posts)
        label = f"{args.count // 1000}k" if args.count % 1000 == 0 else str(args.count)
        print(
            f"post_{label}_followers: seconds={post_seconds:.2f} queries={post_queries} "
            f"(queries with 100 followers={setup['queries_100']})"
        )

    def ratios(ours: str) -> str:
        return " ".join(f"ratio_{peer}={median_ratio(rates[ours], rates[peer]):.2f}" for peer in PEERS if peer in rates)

    if "mailcore_async" in rates and any(peer in rates for peer in PEERS):
        print(f"outgoing: commit=async {ratios('mailcore_async')}")
    if "mailcore_sync" in rates and any(peer in rates for peer in PEERS):
        print("outgoing_targets: commit=sync " + " ".join(f"ratio_{peer}>={t}" for peer, t in TARGETS.items()))
        print(f"outgoing: commit=sync {ratios('mailcore_sync')}", flush=True)
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
