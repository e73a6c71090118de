"""The local outgoing SMTP sink (``manage.py run_sink``) and its viewer at /sink/."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from mailcore.sink import sink_names, sink_store
from mailcore.testing.smtp import free_port

ROOT = Path(settings.BASE_DIR)


def wait_for_port(host: str, port: int, process: subprocess.Popen[str], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise AssertionError(f"run_sink exited with {process.returncode}:\n{output}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing listens on {host}:{port} after {timeout}s")


def build_mail(subject: str, html: str = "", text: str = "Hello from mailcore.") -> bytes:
    message = EmailMessage()
    message["From"] = "Mitchell Admin <notifications@mailcore.localhost>"
    message["To"] = "Azure Interior <azure.interior@example.com>"
    message["Subject"] = subject
    message["Message-Id"] = "<1.2.3@mailcore.localhost>"
    message.set_content(text)
    if html:
        message.add_alternative(html, subtype="html")
    message.add_attachment(b"%PDF-1.4 quotation", maintype="application", subtype="pdf", filename="S00042.pdf")
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


@pytest.fixture
def sink_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    port = free_port()
    directory = tmp_path / "sink"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "MAILCORE_LOG_FILE": str(tmp_path / "log" / "mailcore.log"),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_sink", "--port", str(port), "--dir", str(directory)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port("127.0.0.1", port, process)
        yield process, port, directory
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


def test_run_sink_captures_each_message_as_eml_and_stops_on_ctrl_c(
    sink_process: tuple[subprocess.Popen[str], int, Path], tmp_path: Path
) -> None:
    process, port, directory = sink_process
    one, two = build_mail("One"), build_mail("Two")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        first = client.sendmail("bounce+abc@mailcore.localhost", ["azure.interior@example.com"], one)
        second = client.sendmail("bounce+def@mailcore.localhost", ["a@example.com", "b@example.com"], two)
    assert first == {} and second == {}

    names = sink_names(directory)
    assert len(names) == 2
    newest = (directory / names[0]).read_bytes()
    oldest = (directory / names[1]).read_bytes()
    # The envelope is kept as a delivery agent would: Return-Path, then one X-Original-To each,
    # followed by the message exactly as sent.
    assert oldest == (
        b"Return-Path: <bounce+abc@mailcore.localhost>\r\nX-Original-To: azure.interior@example.com\r\n" + one
    )
    assert newest == (
        b"Return-Path: <bounce+def@mailcore.localhost>\r\nX-Original-To: a@example.com\r\n"
        b"X-Original-To: b@example.com\r\n" + two
    )

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    output = process.stdout.read() if process.stdout else ""
    assert f"SMTP sink listening on 127.0.0.1:{port}" in output
    assert "SMTP sink stopped." in output
    # Its log lines reach the daily file too.
    assert names[0] in (tmp_path / "log" / "mailcore.log").read_text()


@pytest.fixture
def sink_dir(settings: pytest.FixtureRequest, tmp_path: Path) -> Path:
    directory = tmp_path / "viewer"
    settings.MAILCORE_SINK_DIR = directory  # type: ignore[attr-defined]
    return directory


def test_viewer_requires_login(client: Client, sink_dir: Path) -> None:
    path = sink_store(mail_from="x@y.z", rcpt_tos=["a@example.com"], data=build_mail("Secret"), directory=sink_dir)
    for url in (reverse("sink:list"), reverse("sink:detail", args=[path.name]), reverse("sink:raw", args=[path.name])):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_viewer_lists_newest_first_and_shows_a_message(admin_client: Client, sink_dir: Path) -> None:
    html = '<p>Your quotation <b>S00042</b></p><script>alert("x")</script><img src="http://tracker.example/p.gif">'
    older = sink_store(mail_from="bounce+1@mailcore.localhost", rcpt_tos=["a@example.com"], data=build_mail("Older"))
    newer = sink_store(
        mail_from="bounce+2@mailcore.localhost", rcpt_tos=["azure.interior@example.com"], data=build_mail("Newer", html)
    )
    assert sink_names(sink_dir) == [newer.name, older.name]

    listing = admin_client.get(reverse("sink:list")).content.decode()
    assert "2 messages" in listing
    assert listing.index("Newer") < listing.index("Older")
    assert "azure.interior@example.com" in listing

    detail = admin_client.get(reverse("sink:detail", args=[newer.name])).content.decode()
    assert "bounce+2@mailcore.localhost" in detail
    assert "Hello from mailcore." in detail
    assert "S00042.pdf (application/pdf, 18\xa0bytes)" in detail
    assert "&lt;b&gt;S00042&lt;/b&gt;" in detail  # the HTML part, escaped into the iframe's srcdoc
    assert "alert(" not in detail and "tracker.example" not in detail
    assert "sandbox" in detail

    raw = admin_client.get(reverse("sink:raw", args=[newer.name]))
    assert raw["Content-Type"] == "message/rfc822"
    assert b"".join(raw.streaming_content) == newer.read_bytes()  # type: ignore[attr-defined]


@pytest.mark.django_db
def test_viewer_refuses_paths_outside_the_sink(admin_client: Client, sink_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "secret.eml").write_bytes(b"Subject: secret\r\n\r\nno\r\n")
    sink_dir.mkdir()
    for name in ("..%2Fsecret.eml", "secret.eml", "20260101T000000000000-000001.eml"):
        assert admin_client.get(f"/sink/{name}/").status_code == 404
        assert admin_client.get(f"/sink/{name}/raw/").status_code == 404


@pytest.mark.django_db
def test_staff_can_clear_the_sink(
    admin_client: Client, client: Client, sink_dir: Path, django_user_model: type
) -> None:
    for subject in ("a", "b", "c"):
        sink_store(mail_from="x@y.z", rcpt_tos=["a@example.com"], data=build_mail(subject))
    user = django_user_model.objects.create_user("portal", password="portal")
    client.force_login(user)
    assert client.post(reverse("sink:clear")).status_code == 403
    assert len(sink_names(sink_dir)) == 3  # not staff: refused, nothing deleted
    # Every captured mail carries signed reply and bounce addresses: the viewer is staff-only too.
    name = sink_names(sink_dir)[0]
    for url in (reverse("sink:list"), reverse("sink:detail", args=[name]), reverse("sink:raw", args=[name])):
        assert client.get(url).status_code == 403

    response = admin_client.post(reverse("sink:clear"), follow=True)
    assert "Deleted 3 captured messages." in response.content.decode()
    assert sink_names(sink_dir) == []
