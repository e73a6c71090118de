#!/usr/bin/env python
"""Outgoing mail throughput against django-post-office, and the cost of posting to many followers.

    make bench                      # or: .venv-bench/bin/python bench/outgoing.py [--count 10000]

Prints two lines:

    outgoing: n=10000 ours=<rate>/s post_office=<rate>/s ratio=<ours/theirs> db=<postgresql|sqlite> workers=<k>
    post_10k_followers: seconds=<t> queries=<q> (queries with 100 followers=<q100>)

Our side: one message posted (``urgent=False``) on a record with ``--count`` followers queues
``--count`` e-mail notifications; ``--workers`` processes run the Email Queue Manager
(``mailqueue.sender.process_email_queue``) on the same backlog. The peer: ``--count`` e-mails
queued with post_office's ``send_many`` (same addresses, subject and bodies), sent by its
``send_queued_mail_until_done`` with ``--workers`` processes. Both deliver to one Postfix
``smtp-sink`` (it counts messages on stdout and is far faster than either sender; an aiosmtpd sink
saturates near 2,800 messages/s here and would hide the difference). A side's time runs from the
moment its already-started workers are told to go until the sink has all its messages *and*
every worker has exited, i.e. its bookkeeping is written: for us, every notification ``sent``.
``--rounds`` (default 3) alternates the two sides; the medians are printed.

PostgreSQL at 127.0.0.1:5432 is used when it answers (a scratch database, dropped at the end),
else SQLite. Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import choose_database, drop_database, log  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

SMTP_SINK = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
# One scratch database per run, so two benchmarks on one machine never drop each other's.
PG_BENCH_DB = f"mailcore_bench_{os.getpid()}"
OUR_SETTINGS = "config.settings.base"
PEER_SETTINGS = "bench.postoffice_settings"

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


# --- workers (run as: bench/outgoing.py --worker ours|post_office) --------------------------------
def worker_main(side: str, processes: int, lockfile: str) -> None:
    """Set up Django, say ``ready``, wait for ``go`` on stdin, send, print a JSON result."""
    import django

    django.setup()
    from django.db import connection

    connection.ensure_connection()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return
    if side == "ours":
        from mailqueue.sender import process_email_queue

        result = process_email_queue(time_budget=3600)
        print(json.dumps({"done": result.done, "remaining": result.remaining}), flush=True)
    else:
        from post_office.mail import send_queued_mail_until_done

        send_queued_mail_until_done(lockfile=lockfile, processes=processes)
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


# --- database ---------------------------------------------------------------------------------------
# --- the measurements -------------------------------------------------------------------------------
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
    from mailqueue.models import Mail, MailRecipient

    message, seconds, queries = post(setup["lead"], setup["author"])
    queued = MailRecipient.objects.filter(mail__message=message).count()
    if queued != count:
        raise RuntimeError(f"posting queued {queued} recipients, expected {count}")
    # The peer sends the very same HTML body.
    html = Mail.objects.filter(message=message).values_list("body_html", flat=True).first() or BODY
    return {"message_id": message.pk, "seconds": seconds, "queries": queries, "html": html}


def seed_peer(count: int, html: str) -> None:
    from post_office import mail

    for start in range(0, count, 1000):
        mail.send_many(
            [
                {
                    "sender": "Mitchell Admin <notifications@mailcore.localhost>",
                    "recipients": [f"Customer {i} <customer{i}@bench.example>"],
                    "subject": SUBJECT,
                    "message": "Hello, please find below the updated proposal.",
                    "html_message": html,
                    "headers": {"Reply-To": "catchall@mailcore.localhost"},
                }
                for i in range(start, min(start + 1000, count))
            ]
        )


def run_side(
    name: str, argvs: list[list[str]], env: dict[str, str], sink: SmtpSink, count: int, scratch: Path, timeout: float
) -> float:
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
        return max(reached, finished) - start
    finally:
        workers.kill()


def check_ours(message_id: int, count: int) -> None:
    from chatter.models import Notification
    from mailqueue.models import Mail

    sent = Notification.objects.filter(message_id=message_id, notification_status="sent").count()
    left = Mail.objects.filter(message_id=message_id).exclude(state="sent").count()
    if sent != count or left:
        raise RuntimeError(f"ours: {sent} notifications sent of {count}, {left} rows not sent")


def check_peer(total: int) -> None:
    from post_office.models import STATUS, Email

    sent = Email.objects.filter(status=STATUS.sent).count()
    if sent != total:
        raise RuntimeError(f"post_office: {sent} e-mails sent of {total}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000, help="notifications (and peer e-mails) to send")
    parser.add_argument("--workers", type=int, default=2, help="sending processes on each side")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; medians are printed")
    parser.add_argument("--db", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed per side")
    parser.add_argument("--worker", choices=["ours", "post_office"], help=argparse.SUPPRESS)
    parser.add_argument("--lockfile", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker_main(args.worker, args.workers, args.lockfile)
        return 0

    if not Path(SMTP_SINK).exists():
        log("smtp-sink not found: install Debian's postfix package (`make bench` does)")
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-"))
    (scratch / "broker" / "out").mkdir(parents=True)
    (scratch / "broker" / "processed").mkdir(parents=True)
    database_url, db_kind = choose_database(args.db, scratch, PG_BENCH_DB)
    port = free_port()
    env = {
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
        "DJANGO_DEBUG": "0",
        "DJANGO_SETTINGS_MODULE": PEER_SETTINGS,
        "PYTHONPATH": str(ROOT),
    }
    os.environ.update(env)
    sink: SmtpSink | None = None
    ours_seconds: list[float] = []
    peer_seconds: list[float] = []
    posts: list[dict[str, Any]] = []
    try:
        log(f"migrating a scratch {db_kind} database")
        subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=600)
        import django

        django.setup()
        from django.db import connections

        sink = SmtpSink(port)
        log(f"preparing a record with {args.count} followers")
        setup = seed_ours(args.count)
        me = [sys.executable, str(Path(__file__).resolve())]
        lockfile = str(scratch / "post_office")
        # Rounds alternate the two sides, so a load change on a shared machine hits both alike;
        # the medians are reported.
        for round_number in range(1, args.rounds + 1):
            ours = post_big(setup, args.count)
            posts.append(ours)
            connections.close_all()
            log(f"round {round_number}/{args.rounds} ours: {args.workers} workers sending {args.count} notifications")
            ours_seconds.append(
                run_side(
                    "ours",
                    [[*me, "--worker", "ours"] for _ in range(args.workers)],
                    {**env, "DJANGO_SETTINGS_MODULE": OUR_SETTINGS},
                    sink,
                    args.count,
                    scratch,
                    args.timeout,
                )
            )
            check_ours(ours["message_id"], args.count)

            seed_peer(args.count, ours["html"])
            connections.close_all()
            log(
                f"round {round_number}/{args.rounds} post_office: {args.workers} processes sending {args.count} e-mails"
            )
            peer_seconds.append(
                run_side(
                    "post_office",
                    [[*me, "--worker", "post_office", "--workers", str(args.workers), "--lockfile", lockfile]],
                    env,
                    sink,
                    args.count,
                    scratch,
                    args.timeout,
                )
            )
            check_peer(args.count * round_number)
            connections.close_all()
            log(
                f"round {round_number}: ours {args.count / ours_seconds[-1]:.0f}/s, "
                f"post_office {args.count / peer_seconds[-1]:.0f}/s"
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

    ours_rate = args.count / statistics.median(ours_seconds)
    peer_rate = args.count / statistics.median(peer_seconds)
    post_seconds = statistics.median(p["seconds"] for p in posts)
    post_queries = max(p["queries"] for p in posts)
    print(
        f"outgoing: n={args.count} ours={ours_rate:.0f}/s post_office={peer_rate:.0f}/s "
        f"ratio={ours_rate / peer_rate:.2f} db={db_kind} workers={args.workers}"
    )
    label = f"{args.count // 1000}k" if args.count % 1000 == 0 else str(args.count)
    print(
        f"post_{label}_followers: seconds={post_seconds:.2f} queries={post_queries} "
        f"(queries with 100 followers={setup['queries_100']})"
    )
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
