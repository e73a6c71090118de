"""The production shape, exercised: docker-compose.yml's services started as plain processes.

No container engine runs here, so this starts what the compose file declares — ``migrate``, the
web UI under gunicorn, two workers, beat and the gateway with two processes on one port — with
the commands and the environment written in that file (read from it, so the two cannot drift),
on this machine's PostgreSQL and Redis. Only the service host names change (``postgres`` and
``redis`` become 127.0.0.1, and the published ports free ones). Then it drives the system from
outside, as its users and the Internet would: HTTP to the API, and SMTP through a real Postfix
that relays to the gateway.

Where ``ip netns`` works (root), each worker runs in a network namespace of its own, as two
hosts would: it reaches PostgreSQL, Redis and the outgoing relay through its own virtual link,
and the relay sees which host handed it each mail. Elsewhere each worker is given a relay port
of its own, which tells the same.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from django.db import connection

from mailcore.testing.smtp import ReceivedMail, SmtpSink, free_port
from tests.services import _missing, require_postgres, require_redis

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db, pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTFIX_MASTER = Path("/usr/lib/postfix/sbin/master")
# Redis databases of this test only (the suite's second pass uses db 1).
BROKER_DB, CACHE_DB = 13, 14
WORKERS = 2


# --- the compose file -----------------------------------------------------------------------------
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def _substitute(value: str, variables: dict[str, str]) -> str:
    """Compose's interpolation: ``${X}``, ``${X:-default}``, ``${X:?error}`` (required)."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if variables.get(name):
            return variables[name]
        if op == "?":
            raise AssertionError(f"compose needs {name}: {arg}")
        return arg if op == "-" else ""

    return _VARIABLE.sub(one, value)


@dataclass
class ComposeService:
    command: list[str]
    environment: dict[str, str]


def compose_services(variables: dict[str, str]) -> dict[str, ComposeService]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = {}
    for name, spec in compose["services"].items():
        if "command" not in spec or "build" not in spec:
            continue  # postgres and redis: this machine's own
        environment = {key: _substitute(str(value), variables) for key, value in spec["environment"].items()}
        command = [_substitute(part, variables) for part in spec["command"]]
        services[name] = ComposeService(command=command, environment=environment)
    return services


def _local(service: ComposeService, *, postgres: str, redis: str) -> dict[str, str]:
    """The service's environment with the compose network's host names mapped to this machine."""
    env = {}
    for key, value in service.environment.items():
        value = re.sub(r"@postgres:5432/mailcore\b", f"@{postgres}", value)
        value = value.replace("redis://redis:6379/0", f"redis://{redis}/{BROKER_DB}")
        env[key] = value.replace("redis://redis:6379/1", f"redis://{redis}/{CACHE_DB}")
    return env


def _executable(command: list[str]) -> list[str]:
    """``python``, ``celery`` and ``gunicorn`` from the virtualenv running this test."""
    head = command[0]
    return [sys.executable if head == "python" else str(BIN / head), *command[1:]]


# --- plumbing: processes, namespaces, a TCP forwarder, Postfix ------------------------------------
@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass
class Cluster:
    tmp: Path
    processes: list[Process] = field(default_factory=list)
    cleanup: list[Callable[[], object]] = field(default_factory=list)
    postfix_dir: Path | None = None

    def start(self, name: str, command: list[str], env: dict[str, str], *, prefix: list[str] | None = None) -> Process:
        log = self.tmp / f"{name}.log"
        with log.open("wb") as output:
            popen = subprocess.Popen(
                [*(prefix or []), *command],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # one process group each: stopped as a whole, like a container
            )
        process = Process(name, popen, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            with suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes:
            with suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            with suppress(ProcessLookupError):
                os.killpg(process.popen.pid, signal.SIGKILL)
            process.popen.wait(timeout=10)
        for step in self.cleanup:
            step()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} (rc={p.popen.poll()}) ---\n{p.output()[-3000:]}" for p in self.processes)

    def check_alive(self) -> None:
        dead = [p.name for p in self.processes if p.popen.poll() is not None]
        assert not dead, f"services exited: {dead}\n{self.logs()}"


def wait_until(what: str, condition: Callable[[], Any], cluster: Cluster, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        cluster.check_alive()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{cluster.logs()}")


class Forwarder:
    """TCP forwarding from an address of a namespace's link to a service on 127.0.0.1 (its own
    loopback is all PostgreSQL and Redis listen on)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servers: list[asyncio.Server] = []
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def forward(self, host: str, port: int, target_port: int) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with suppress(OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                target_reader, target_writer = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.close()
                return
            try:
                await asyncio.gather(pipe(reader, target_writer), pipe(target_reader, writer))
            except asyncio.CancelledError:  # closing: end quietly (a cancelled handler is logged)
                writer.close()
                target_writer.close()

        server = asyncio.run_coroutine_threadsafe(asyncio.start_server(handle, host, port), self.loop).result(10)
        self.servers.append(server)

    def close(self) -> None:
        async def shutdown() -> None:
            for server in self.servers:
                server.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=30)


def namespaces_work() -> bool:
    if os.geteuid() != 0 or not shutil.which("ip"):
        return False
    probe = f"mcprobe{os.getpid()}"
    if _run("ip", "netns", "add", probe).returncode != 0:
        return False
    _run("ip", "netns", "del", probe)
    return True


@dataclass
class Host:
    """Where one worker runs: its relay address, the address it reaches our services at, and the
    command prefix that puts it there."""

    relay_host: str
    services_host: str
    prefix: list[str]


def make_namespace(stack: ExitStack, index: int, forwarder: Forwarder) -> Host:
    name = f"mcps{os.getpid() % 10000}w{index}"
    outside, inside = f"{name}o", f"{name}i"
    net = f"10.213.{index + 1}"
    commands = [
        ("ip", "netns", "add", name),
        ("ip", "link", "add", outside, "type", "veth", "peer", "name", inside),
        ("ip", "link", "set", inside, "netns", name),
        ("ip", "addr", "add", f"{net}.1/24", "dev", outside),
        ("ip", "link", "set", outside, "up"),
        ("ip", "netns", "exec", name, "ip", "addr", "add", f"{net}.2/24", "dev", inside),
        ("ip", "netns", "exec", name, "ip", "link", "set", inside, "up"),
        ("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"),
    ]
    stack.callback(_run, "ip", "link", "del", outside)
    stack.callback(_run, "ip", "netns", "del", name)
    for command in commands:
        result = _run(*command)
        assert result.returncode == 0, (command, result.stderr)
    for port in (5432, 6379):
        forwarder.forward(f"{net}.1", port, port)
    return Host(relay_host=f"{net}.1", services_host=f"{net}.1", prefix=["ip", "netns", "exec", name])


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {tmp}/spool
data_directory = {tmp}/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.postfix.test
mydomain = postfix.test
myorigin = postfix.test
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = {domain}
transport_maps = inline:{{ {domain}=smtp:[127.0.0.1]:{gateway_port} }}
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = none
smtpd_tls_security_level = none
smtp_dns_support_level = disabled
alias_maps =
local_recipient_maps =
maillog_file = {tmp}/maillog
maillog_file_prefixes = {tmp}
queue_run_delay = 2s
minimal_backoff_time = 2s
maximal_backoff_time = 4s
"""
# Only the services a relay needs, none chrooted: the instance lives in a scratch directory.
POSTFIX_MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n -  0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n -  - trivial-rewrite
bounce    unix  - - n -  0 bounce
defer     unix  - - n -  0 bounce
trace     unix  - - n -  0 bounce
verify    unix  - - n -  1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -  - proxymap
smtp      unix  - - n -  - smtp
relay     unix  - - n -  - smtp
showq     unix  n - n -  - showq
error     unix  - - n -  - error
retry     unix  - - n -  - error
discard   unix  - - n -  - discard
anvil     unix  - - n -  1 anvil
scache    unix  - - n -  1 scache
postlog   unix-dgram n - n - 1 postlogd
"""


def start_postfix(cluster: Cluster, *, domain: str, gateway_port: int) -> int:
    """A private Postfix instance on a free loopback port that relays ``domain`` to the gateway.

    Its directory is outside pytest's (which only root may enter: Postfix's daemons run as the
    postfix user) and short (its UNIX sockets' paths must fit in 108 bytes)."""
    tmp = Path(tempfile.mkdtemp(prefix="mcpf"))
    tmp.chmod(0o755)
    cluster.cleanup.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
    cluster.postfix_dir = tmp
    port = free_port()
    (tmp / "etc").mkdir(parents=True)
    (tmp / "data").mkdir()
    shutil.chown(tmp / "data", "postfix")
    (tmp / "etc" / "main.cf").write_text(POSTFIX_MAIN.format(tmp=tmp, domain=domain, gateway_port=gateway_port))
    (tmp / "etc" / "master.cf").write_text(POSTFIX_MASTER_CF.format(port=port))
    spool = tmp / "spool"
    (spool / "pid").mkdir(parents=True)
    for private in ("incoming", "active", "deferred", "bounce", "defer", "trace", "flush", "hold", "corrupt",
                    "saved", "private"):  # fmt: skip
        (spool / private).mkdir(mode=0o700)
        shutil.chown(spool / private, "postfix", "root")
    for shared, mode in (("maildrop", 0o730), ("public", 0o710)):
        (spool / shared).mkdir()
        shutil.chown(spool / shared, "postfix", "postdrop")
        (spool / shared).chmod(mode)
    cluster.start("postfix", [str(POSTFIX_MASTER), "-c", str(tmp / "etc"), "-d"], dict(os.environ))
    wait_until("Postfix's SMTP greeting", lambda: _smtp_answers(port), cluster, timeout=20)
    return port


def _smtp_answers(port: int) -> bool:
    with suppress(OSError, smtplib.SMTPException), smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
        return smtp.noop()[0] == 250
    return False


def _http_ok(url: str) -> bool:
    with suppress(OSError), urllib.request.urlopen(url, timeout=3) as response:
        return bool(response.status == 200)
    return False


class Api:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.auth = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()

    def __call__(self, method: str, path: str, payload: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path,
            method=method,
            data=json.dumps(payload).encode() if payload is not None else None,
            headers={"Authorization": self.auth, "Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: {exc.code} {exc.read()[:500]!r}") from exc


# --- the test -------------------------------------------------------------------------------------
@pytest.fixture
def production_database() -> Iterator[str]:
    """A database of its own on the test's PostgreSQL server, as compose's ``postgres`` service."""
    require_postgres()
    params = connection.settings_dict
    name = f"mc_production_shape_{os.getpid()}"
    server = f"postgresql://{params['USER']}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # Compose's database user; trust authentication here, so its password is not checked.
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'mailcore'").fetchone():
            admin.execute("CREATE ROLE mailcore LOGIN")
        admin.execute(f'CREATE DATABASE "{name}" OWNER mailcore')
    try:
        yield f"{server.split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_compose_services_as_processes_serve_mail_end_to_end(production_database: str, tmp_path: Path) -> None:
    redis_url = require_redis()
    if not POSTFIX_MASTER.exists():
        _missing("needs Postfix (Debian package postfix; `make test` installs it)")
    if os.geteuid() != 0:
        _missing("needs root to run a private Postfix instance")
    redis_server = redis_url.split("://", 1)[1].split("/", 1)[0]
    import redis

    for db in (BROKER_DB, CACHE_DB):
        redis.Redis.from_url(f"redis://{redis_server}/{db}").flushdb()

    domain = "mailcore.localhost"
    web_port, gateway_port = free_port(), free_port()
    password = "production-shape-secret"
    variables = {
        "DJANGO_SECRET_KEY": "x" * 50,
        "POSTGRES_PASSWORD": "unused-local-trust-auth",
        "MAILCORE_SMTP_HOST": "127.0.0.1",
        "MAILCORE_SMTP_ENCRYPTION": "none",
        "MAILCORE_BASE_URL": f"http://127.0.0.1:{web_port}",
        "MAILCORE_ALIAS_DOMAIN": domain,
        "DJANGO_SECURE_COOKIES": "0",
        "WEB_CONCURRENCY": "2",
        "CELERY_CONCURRENCY": "2",
    }
    services = compose_services(variables)
    postgres_address = production_database.split("@", 1)[1]

    def environment(
        service: str, *, services_host: str = "127.0.0.1", relay: tuple[str, int] | None = None
    ) -> dict[str, str]:
        host_postgres = postgres_address.replace("127.0.0.1", services_host).replace("localhost", services_host)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "LANG": "C.UTF-8",
            "MAILCORE_VAR_DIR": str(tmp_path / "var"),
            **_local(services[service], postgres=host_postgres, redis=redis_server.replace("127.0.0.1", services_host)),
        }
        if relay:
            env["MAILCORE_SMTP_HOST"], env["MAILCORE_SMTP_PORT"] = relay[0], str(relay[1])
        env["DJANGO_SUPERUSER_PASSWORD"] = password
        return env

    cluster = Cluster(tmp_path)
    with ExitStack() as stack:
        stack.callback(cluster.stop)
        # The service that runs once before the others: migrations (and the crons' rows).
        migrate = subprocess.run(
            _executable(services["migrate"].command), cwd=ROOT, env=environment("migrate"),
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        created = subprocess.run(
            [sys.executable, "manage.py", "createsuperuser", "--no-input", "--username", "admin", "--email",
             "admin@example.com"],
            cwd=ROOT, env=environment("migrate"), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert created.returncode == 0, created.stdout + created.stderr

        # Each worker on a host of its own; each hands its mail to a relay address of its own.
        hosts: list[Host] = []
        if namespaces_work():
            forwarder = Forwarder()
            stack.callback(forwarder.close)
            hosts = [make_namespace(stack, index, forwarder) for index in range(WORKERS)]
        else:
            hosts = [Host("127.0.0.1", "127.0.0.1", []) for _ in range(WORKERS)]
        relays = [stack.enter_context(SmtpSink(host=host.relay_host)) for host in hosts]

        web = services["web"].command
        web = [*web[: web.index("--bind") + 1], f"127.0.0.1:{web_port}", *web[web.index("--bind") + 2 :]]
        cluster.start("web", _executable(web), environment("web"))
        workers: list[Process] = []
        for index, host in enumerate(hosts):
            worker = [*_executable(services["worker"].command), "-n", f"worker{index + 1}@%h"]
            env = environment("worker", services_host=host.services_host, relay=(host.relay_host, relays[index].port))
            workers.append(cluster.start(f"worker{index + 1}", worker, env, prefix=host.prefix))
        beat_env = environment("beat", relay=("127.0.0.1", relays[0].port))
        cluster.start("beat", _executable(services["beat"].command), beat_env)
        gateway = services["gateway"].command
        gateway = [*gateway[: gateway.index("--host")], "--host", "127.0.0.1", "--port", str(gateway_port)]
        gateway_env = environment("gateway")
        assert gateway_env["MAILCORE_GATEWAY_PROCESSES"] == "2", "compose runs two gateway processes on one port"
        gateway_process = cluster.start("gateway", _executable(gateway), gateway_env)

        base_url = f"http://127.0.0.1:{web_port}"
        wait_until("the web UI", lambda: _http_ok(f"{base_url}/login/"), cluster, timeout=60)
        wait_until("the gateway", lambda: _smtp_answers(gateway_port), cluster, timeout=60)
        for worker_process in workers:
            wait_until(worker_process.name, lambda p=worker_process: "ready." in p.output(), cluster)  # type: ignore[misc]
        postfix_port = start_postfix(cluster, domain=domain, gateway_port=gateway_port)
        gateway_processes = _run("pgrep", "-f", "-g", str(gateway_process.popen.pid), "run_gateway")
        assert len(gateway_processes.stdout.split()) >= 2, gateway_processes

        api = Api(base_url, "admin", password)
        # A post from the API: a lead, contacts, three messages to all of them.
        contacts = [api("POST", "/api/contacts/", {"name": f"Customer {i}", "email": f"customer{i}@customer.test"})
                    for i in range(20)]  # fmt: skip
        lead = api("POST", "/api/leads/", {"name": "Production shape"})
        for number in range(3):
            api("POST", f"/api/leads/{lead['id']}/message_post/",
                {"kind": "message", "subject": f"Offer {number}", "body": f"<p>Offer number {number}</p>",
                 "partner_ids": [c["id"] for c in contacts]})  # fmt: skip

        # The queue, drained by both workers: each mail once, and each worker sent some.
        expected = 3 * len(contacts)
        wait_until("the queue to drain", lambda: sum(len(r.messages) for r in relays) >= expected, cluster, 90)
        time.sleep(1)  # a duplicate would arrive now
        received = [mail for relay in relays for mail in relay.messages]
        deliveries = Counter((m.message["Subject"], rcpt) for m in received for rcpt in m.rcpt_tos)
        assert len(deliveries) == expected and set(deliveries.values()) == {1}, deliveries.most_common(3)
        per_worker = [len(relay.messages) for relay in relays]
        assert all(per_worker), f"one worker sent everything: {per_worker}"

        # A reply, relayed by Postfix to the gateway, lands on the lead.
        first = _addressed_to(received, "customer0@customer.test", "Offer 0")
        reply = EmailMessage()
        reply["From"] = "Customer 0 <customer0@customer.test>"
        reply["To"] = first.message["Reply-To"]
        reply["Subject"] = "Re: Offer 0"
        reply["Message-ID"] = make_msgid(domain="customer.test")
        reply["In-Reply-To"] = first.message["Message-ID"]
        reply.set_content("Relayed by Postfix: we accept the offer.")
        with smtplib.SMTP("127.0.0.1", postfix_port, timeout=10) as smtp:
            smtp.send_message(reply, from_addr="customer0@customer.test")

        def reply_posted() -> bool:
            messages = api("GET", f"/api/leads/{lead['id']}/messages/")["results"]
            return any("we accept the offer" in (m["body"] or "") for m in messages)

        wait_until("the relayed reply on the lead", reply_posted, cluster, timeout=60)

        # A bounce for another customer, relayed the same way, turns that notification red.
        bounced = _addressed_to(received, "customer1@customer.test", "Offer 1")
        with smtplib.SMTP("127.0.0.1", postfix_port, timeout=10) as smtp:
            smtp.sendmail("", [bounced.mail_from], _dsn(bounced, "customer1@customer.test"))

        def bounce_recorded() -> bool:
            messages = api("GET", f"/api/leads/{lead['id']}/messages/")["results"]
            return any(
                n["partner"]["email"] == "customer1@customer.test" and n["notification_status"] == "bounce"
                for m in messages if m["subject"] == "Offer 1" for n in m["notifications"]
            )  # fmt: skip

        wait_until("the bounce on the notification", bounce_recorded, cluster, timeout=60)
        assert cluster.postfix_dir
        maillog = (cluster.postfix_dir / "maillog").read_text()
        assert maillog.count(f"relay=127.0.0.1[127.0.0.1]:{gateway_port}") >= 2 and "status=sent" in maillog, maillog
        cluster.check_alive()


def _addressed_to(received: list[ReceivedMail], address: str, subject: str) -> ReceivedMail:
    return next(m for m in received if address in m.rcpt_tos and m.message["Subject"] == subject)


def _dsn(original: ReceivedMail, recipient: str) -> bytes:
    """A delivery status notification (RFC 3464) as a remote MTA writes it."""
    boundary = "dsn-boundary"
    headers = original.data.split(b"\r\n\r\n", 1)[0].decode()
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\n"
        f"To: {original.mail_from}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {make_msgid(domain='mx.customer.test')}\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"The mail could not be delivered to {recipient}: no such user.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.customer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()
