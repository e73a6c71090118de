#!/usr/bin/env python
"""Inbound gateway throughput against a no-op aiosmtpd server, with 1 and 2 processes each, and 250→chatter.

    .venv/bin/python bench/inbound.py [--count 3000] [--rounds 3] [--connections 1,4,16] [--processes 1,2]
                                      [--throughput-only]

Prints one line per round and concurrency, one summary line per concurrency, then (without
``--throughput-only``) the drain and latency lines:

    inbound_round: round=<r> processes=<p> connections=<c> noop=<msgs/s> gateway=<msgs/s> ratio=<gateway/noop>
    inbound: processes=<p> connections=<c> noop=<median>/s gateway=<median>/s ratio=<median of per-round ratios> …
    drain: n=<count> rate=<msgs/s> seconds=<t> worker_concurrency=<k>
    latency: n=<m> rate=<msgs/s> median_ms=<ms> p95_ms=<ms> max_ms=<ms>

Every message is a reply (In-Reply-To the lead's message, To its signed ``catchall+`` token) from
its own sender, about 2.5 kB, multipart/alternative. For each count of ``--processes`` both
servers run with that many processes on one port (``SO_REUSEPORT``, the kernel spreads the
connections: ``manage.py run_gateway --processes N`` for ours, N no-op processes for the other),
started once and warmed up with ``--warmup`` untimed replies. Then, ``--rounds`` times, for each
count of processes and at each ``--connections`` level, each server gets
``--count`` replies from that many threads, each one SMTP session sending its share back to back;
who goes first alternates from round to round, and the ratio is taken per round (same round, same
concurrency) and its median printed: one figure would hide that the ratio changes with
concurrency. The gateway answers 250 only after the row is committed. The Celery worker is
stopped during that load (on two cores it would take CPU from the gateway); ``drain`` then
starts it (``-c --worker-concurrency``, prefork) and times how long it takes to post the whole
backlog (every round's) in the chatter. ``latency`` sends ``--latency-count`` replies at
``--latency-rate`` per second with the worker running and reports the time from each 250 to the
message appearing in the chatter (polled every 10 ms).

PostgreSQL at 127.0.0.1:5432 is used when it answers (a scratch database ``mc_bench_inbound_<pid>``,
dropped at the end), else SQLite; Redis at ``--broker-url`` (default redis://127.0.0.1:6379/4)
when it answers, else kombu's filesystem transport in a scratch folder. Network: 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import os
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
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch import choose_database, drop_database, log  # noqa: E402
from mailcore.testing.smtp import free_port  # noqa: E402

PG_BENCH_DB = f"mc_bench_inbound_{os.getpid()}"
SETTINGS = "config.settings.base"
DOMAIN = "mailcore.localhost"


# --- the no-op server (run in its own process: `bench/inbound.py --serve-noop PORT`) ----------------
def serve_noop(port: int) -> None:
    """One no-op process; several share the port (``SO_REUSEPORT``), as gateway processes do."""
    import asyncio

    from aiosmtpd.smtp import SMTP

    class NoopHandler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 2.0.0 Ok: queued"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        handler = NoopHandler()
        server = await loop.create_server(
            lambda: SMTP(handler, enable_SMTPUTF8=True, decode_data=False),
            host="127.0.0.1",
            port=port,
            reuse_port=True,
        )
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        print("ready", flush=True)
        await stop.wait()
        server.close()

    asyncio.run(serve())


# --- database and broker ---------------------------------------------------------------------------
def choose_broker(requested: str) -> tuple[str, str]:
    if requested.startswith("redis://"):
        from urllib.parse import urlparse

        parsed = urlparse(requested)
        try:
            with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout=2) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return requested, "redis"
        except OSError as exc:
            log(f"Redis at {requested} does not answer ({exc}); using the filesystem broker")
        return "filesystem://", "filesystem"
    return requested, requested.split(":", 1)[0]


# --- processes ---------------------------------------------------------------------------------------
class Proc:
    """A child process whose output goes to a log file, stopped with SIGTERM then SIGKILL."""

    def __init__(self, argv: list[str], env: dict[str, str], logfile: Path) -> None:
        self.logfile = logfile
        self.handle = logfile.open("wb")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.handle, stderr=subprocess.STDOUT)

    def wait_for_output(self, needle: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.logfile.read_text(errors="replace"):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"{self.logfile.name}: no {needle!r}:\n{self.logfile.read_text(errors='replace')[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.handle.close()


# --- load ----------------------------------------------------------------------------------------------
def make_messages(run: str, prefix: str, count: int, rcpt: str, in_reply_to: str) -> list[tuple[str, str, bytes]]:
    """(sender, Message-ID, bytes) of ``count`` realistic replies, built before any timing."""
    quoted = "> " + "\n> ".join(
        ["Hello,", "", "Please find our updated proposal for the Office Design Project:", "12 desks, 12 chairs."] * 6
    )
    messages = []
    for i in range(count):
        sender = f"customer{prefix}{i}@example.com"
        message_id = f"<bench-{run}-{prefix}{i}@example.com>"
        text = f"Thanks, this works for us. We confirm order #{i}.\n\nBest,\nCustomer {i}\n\n{quoted}\n"
        html = "<div><p>" + text.replace("\n", "<br>\n") + "</p></div>"
        raw = (
            f"From: Customer {i} <{sender}>\r\nTo: {rcpt}\r\nSubject: Re: Office Design Project\r\n"
            f"Message-ID: {message_id}\r\nIn-Reply-To: {in_reply_to}\r\nReferences: {in_reply_to}\r\n"
            "Date: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/alternative; boundary="b1"\r\n\r\n'
            "--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            + text.replace("\n", "\r\n")
            + "\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
            + html.replace("\n", "\r\n")
            + "\r\n--b1--\r\n"
        ).encode()
        messages.append((sender, message_id, raw))
    return messages


def blast(port: int, rcpt: str, messages: list[tuple[str, str, bytes]], connections: int) -> tuple[float, int]:
    """Send ``messages`` over ``connections`` sessions at full speed; (seconds, accepted)."""
    shares = [messages[i::connections] for i in range(connections)]
    accepted = [0] * connections
    errors: list[str] = []
    clients = [smtplib.SMTP("127.0.0.1", port, timeout=60) for _ in range(connections)]
    for client in clients:
        client.ehlo("bench.example.com")
    barrier = threading.Barrier(connections + 1)

    def run(index: int) -> None:
        client = clients[index]
        barrier.wait()
        for sender, _mid, raw in shares[index]:
            try:
                client.sendmail(sender, [rcpt], raw)
                accepted[index] += 1
            except smtplib.SMTPException as exc:
                errors.append(str(exc))
        client.quit()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    if errors:
        log(f"{len(errors)} refused, first: {errors[0]}")
    return elapsed, sum(accepted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000, help="replies per server, round and concurrency")
    parser.add_argument(
        "--connections", default="1,4,16", help="concurrent SMTP connections, comma-separated (default 1,4,16)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the median of the per-round ratios is printed")
    parser.add_argument(
        "--warmup", type=int, default=200, help="untimed replies sent to each server first (default 200)"
    )
    parser.add_argument("--latency-count", type=int, default=200)
    parser.add_argument("--latency-rate", type=float, default=20.0, help="replies per second in the latency run")
    parser.add_argument("--worker-concurrency", type=int, default=2)
    parser.add_argument("--processes", default="1,2", help="processes of each server, comma-separated (default 1,2)")
    parser.add_argument("--database", choices=["auto", "postgresql", "sqlite"], default="auto")
    parser.add_argument("--broker-url", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/4"))
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs) and database")
    parser.add_argument(
        "--throughput-only", action="store_true", help="measure noop and gateway only (no drain, no latency)"
    )
    parser.add_argument("--serve-noop", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_noop is not None:
        serve_noop(args.serve_noop)
        return 0
    levels = sorted({int(c) for c in args.connections.split(",")})
    process_counts = sorted({max(int(p), 1) for p in args.processes.split(",")})

    scratch = Path(tempfile.mkdtemp(prefix="mailcore-bench-inbound-"))
    db_url, db_kind = choose_database(args.database, scratch, PG_BENCH_DB)
    broker_url, broker_kind = choose_broker(args.broker_url)
    for folder in ("broker/out", "broker/processed"):
        (scratch / folder).mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SETTINGS,
        "DATABASE_URL": db_url,
        "CELERY_BROKER_URL": broker_url,
        "MAILCORE_VAR_DIR": str(scratch),
        "MAILCORE_LOG_FILE": "",
        "PYTHONUNBUFFERED": "1",
        # Every connection comes from this one client address.
        "MAILCORE_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS": str(max(levels)),
    }
    os.environ.update(
        {
            k: env[k]
            for k in (
                "DJANGO_SETTINGS_MODULE",
                "DATABASE_URL",
                "CELERY_BROKER_URL",
                "MAILCORE_VAR_DIR",
                "MAILCORE_LOG_FILE",
            )
        }
    )
    python = sys.executable
    procs: list[Proc] = []
    try:
        log(f"database {db_kind}, broker {broker_kind}, scratch {scratch}")
        subprocess.run([python, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=600)
        if broker_kind == "redis":
            subprocess.run(
                [str(Path(python).parent / "celery"), "-A", "config", "purge", "-f"],
                cwd=ROOT,
                env=env,
                check=True,
                timeout=60,
                capture_output=True,
            )

        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.contrib.contenttypes.models import ContentType

        from chatter.models import Message
        from chatter.services import message_post, thread_reply_to_address
        from demo.models import Lead
        from mailcore.models import AliasDomain, NotificationType, Partner

        # Followers handle notifications in the app: the worker posts and notifies, and no
        # outgoing mail competes with the measure (outgoing throughput is bench/outgoing.py's).
        users = get_user_model().objects
        lead = Lead.objects.create(name="Office Design Project")
        salesman = Partner.objects.create(
            name="Mitchell Admin",
            email="admin@example.com",
            user=users.create_user("salesman", "admin@example.com", "x"),
            notification_type=NotificationType.INBOX,
        )
        watcher = Partner.objects.create(
            name="Watcher",
            email="watcher@example.com",
            user=users.create_user("watcher", "watcher@example.com", "x"),
            notification_type=NotificationType.INBOX,
        )
        lead.message_subscribe([salesman, watcher])
        original = message_post(
            record=lead, body="<p>Proposal</p>", subject="Office Design Project", subtype="mt_comment", author=salesman
        )
        ct = ContentType.objects.get_for_model(Lead)
        # The signed catchall token the lead's outgoing mail carries as Reply-To.
        rcpt = thread_reply_to_address(model=ct, res_id=lead.pk, alias_domain=AliasDomain.objects.get(name=DOMAIN))
        run = uuid.uuid4().hex[:8]

        # 1. Both servers, each in its own process, started once and warmed up (untimed: lazy
        # imports, the alias cache, prepared statements, the broker connection). Warm-up
        # Message-IDs do not start with the drain's prefix (the worker posts them too).
        ports: dict[tuple[str, int], int] = {}
        noops: list[Proc] = []
        for processes in process_counts:
            noop_port = free_port()
            for index in range(processes):
                noop = Proc(
                    [python, str(Path(__file__).resolve()), "--serve-noop", str(noop_port)],
                    env,
                    scratch / f"noop{processes}-{index}.log",
                )
                procs.append(noop)
                noops.append(noop)
                noop.wait_for_output("ready")
            gw_port = free_port()
            gateway = Proc(
                [python, "manage.py", "run_gateway", "--port", str(gw_port), "--processes", str(processes)],
                env,
                scratch / f"gateway{processes}.log",
            )
            procs.append(gateway)
            gateway.wait_for_output("listening on")
            ports["noop", processes], ports["gateway", processes] = noop_port, gw_port
        gw_port = ports["gateway", process_counts[0]]  # for the latency run
        if args.warmup:
            for (name, processes), port in ports.items():
                prefix = f"w{name[0]}{processes}-"
                blast(port, rcpt, make_messages(run, prefix, args.warmup, rcpt, original.message_id), 4)

        # 2. Rounds: at each concurrency the two servers take turns (who goes first alternates
        # from round to round), so a load change on this shared machine falls on both alike.
        # The worker is stopped meanwhile: on two cores it would take CPU from the gateway.
        rates: dict[tuple[str, int, int], list[float]] = {}
        gw_ok = 0
        for round_number in range(1, args.rounds + 1):
            for processes in process_counts:
                for sessions in levels:
                    order = ["noop", "gateway"] if round_number % 2 else ["gateway", "noop"]
                    for name in order:
                        prefix = f"{name[0]}{round_number}p{processes}c{sessions}-"
                        load = make_messages(run, prefix, args.count, rcpt, original.message_id)
                        took, accepted = blast(ports[name, processes], rcpt, load, sessions)
                        if accepted != args.count:
                            raise RuntimeError(
                                f"{name} accepted {accepted} of {args.count} at {processes} processes, "
                                f"{sessions} connections"
                            )
                        if name == "gateway":
                            gw_ok += accepted
                        rates.setdefault((name, processes, sessions), []).append(accepted / took)
                    noop_rate = rates["noop", processes, sessions][-1]
                    gw_rate = rates["gateway", processes, sessions][-1]
                    print(
                        f"inbound_round: round={round_number} processes={processes} connections={sessions} "
                        f"noop={noop_rate:.1f}/s gateway={gw_rate:.1f}/s ratio={gw_rate / noop_rate:.2f}",
                        flush=True,
                    )
        for noop in noops:
            noop.stop()
        for processes in process_counts:
            for sessions in levels:
                noop_rates, gateways = rates["noop", processes, sessions], rates["gateway", processes, sessions]
                ratio = statistics.median(g / n for g, n in zip(gateways, noop_rates, strict=True))
                print(
                    f"inbound: processes={processes} connections={sessions} "
                    f"noop={statistics.median(noop_rates):.1f}/s "
                    f"gateway={statistics.median(gateways):.1f}/s ratio={ratio:.2f} n={args.count} "
                    f"rounds={args.rounds} db={db_kind} broker={broker_kind}",
                    flush=True,
                )

        if args.throughput_only:
            return 0

        # 3. The worker drains the backlog into the chatter.
        worker = Proc(
            [
                str(Path(python).parent / "celery"),
                "-A",
                "config",
                "worker",
                "--loglevel",
                "INFO",
                "-c",
                str(args.worker_concurrency),
                "--pool",
                "prefork",
                "-n",
                f"bench{os.getpid()}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],
            env,
            scratch / "worker.log",
        )
        procs.append(worker)
        started = time.perf_counter()
        prefix = f"<bench-{run}-g"  # every round's gateway load, none of the warm-up
        deadline = time.monotonic() + max(600, args.count / 5)
        posted = 0
        while time.monotonic() < deadline:
            posted = Message.objects.filter(message_id__startswith=prefix).count()
            if posted >= gw_ok:
                break
            time.sleep(0.25)
        drain = time.perf_counter() - started
        print(
            f"drain: n={posted} rate={posted / drain:.1f}/s seconds={drain:.1f} "
            f"worker_concurrency={args.worker_concurrency} (includes worker start)",
            flush=True,
        )

        # 4. Latency from 250 to the chatter, paced, worker running and idle.
        latency_msgs = make_messages(run, "l", args.latency_count, rcpt, original.message_id)
        sent_at: dict[str, float] = {}
        seen_at: dict[str, float] = {}
        stop = threading.Event()
        last_id = Message.objects.order_by("-id").values_list("id", flat=True).first() or 0

        def poll() -> None:
            nonlocal last_id
            from django.db import connection

            while not stop.is_set():
                for pk, mid in Message.objects.filter(id__gt=last_id).order_by("id").values_list("id", "message_id"):
                    seen_at.setdefault(mid, time.monotonic())
                    last_id = pk
                time.sleep(0.01)
            connection.close()

        poller = threading.Thread(target=poll)
        poller.start()
        with smtplib.SMTP("127.0.0.1", gw_port, timeout=60) as client:
            interval = 1.0 / args.latency_rate
            next_at = time.monotonic()
            for sender, mid, raw in latency_msgs:
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                client.sendmail(sender, [rcpt], raw)
                sent_at[mid] = time.monotonic()
                next_at += interval
        wait_until = time.monotonic() + 60
        while time.monotonic() < wait_until and not all(m in seen_at for m in sent_at):
            time.sleep(0.05)
        stop.set()
        poller.join()
        latencies = sorted((seen_at[m] - sent_at[m]) * 1000 for m in sent_at if m in seen_at)
        missing = len(sent_at) - len(latencies)
        p95 = latencies[max(round(0.95 * len(latencies)) - 1, 0)] if latencies else float("nan")
        print(
            f"latency: n={len(latencies)} rate={args.latency_rate:g}/s median_ms={statistics.median(latencies):.0f} "
            f"p95_ms={p95:.0f} max_ms={latencies[-1]:.0f}" + (f" missing={missing}" if missing else ""),
            flush=True,
        )
        return 0
    finally:
        for proc in reversed(procs):
            proc.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        if args.keep:
            log(f"kept {scratch} (and the database {db_url})")
        else:
            drop_database(db_kind, PG_BENCH_DB)
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
