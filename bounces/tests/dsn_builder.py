"""Delivery reports for the gateway tests, built the way Postfix writes them (RFC 3464)."""

from __future__ import annotations


def make_dsn(
    *,
    recipient: str,
    status: str = "5.1.1",
    action: str = "failed",
    diagnostic: str = "smtp; 550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown",
    original_headers: str = "",
    to: str = "bounce@mailcore.localhost",
    message_id: str = "<dsn-1@mx.example.com>",
    extra_headers: str = "",
) -> bytes:
    """A ``multipart/report; report-type=delivery-status`` from MAILER-DAEMON."""
    diag = diagnostic.format(rcpt=recipient)
    text = (
        "This is the mail system at host mx.example.com.\n\n"
        + (
            "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients.\n"
            if action == "failed"
            else "Your message could not be delivered for 4 hours. It will be retried until it is 5 days old.\n"
        )
        + f"\n<{recipient}>: {diag}\n"
    )
    report = (
        "Reporting-MTA: dns; mx.example.com\n"
        "Arrival-Date: Mon, 2 Nov 2026 10:00:00 +0000\n\n"
        f"Final-Recipient: rfc822; {recipient}\n"
        f"Original-Recipient: rfc822;{recipient}\n"
        f"Action: {action}\n"
        f"Status: {status}\n"
        "Remote-MTA: dns; mail.example.net\n"
        f"Diagnostic-Code: {diag}\n"
    )
    lines = [
        "Return-Path: <>",
        "From: MAILER-DAEMON@mx.example.com (Mail Delivery System)",
        "Subject: Undelivered Mail Returned to Sender"
        if action == "failed"
        else "Subject: Delayed Mail (still being retried)",
        f"To: {to}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BOUNDARY"',
    ]
    if extra_headers:
        lines.append(extra_headers.strip("\n"))
    body = (
        "\n".join(lines)
        + "\n\nThis is a MIME-encapsulated message.\n\n"
        + "--BOUNDARY\nContent-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
        + text
        + "\n--BOUNDARY\nContent-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
        + report
        + "\n--BOUNDARY\nContent-Description: Undelivered Message Headers\nContent-Type: text/rfc822-headers\n\n"
        + original_headers.strip("\n")
        + "\n\n--BOUNDARY--\n"
    )
    return body.replace("\n", "\r\n").encode()


def make_auto_reply(*, to: str, in_reply_to: str = "") -> bytes:
    headers = [
        "From: Bob <bob@example.com>",
        f"To: {to}",
        "Subject: Out of office: Re: your offer",
        "Message-ID: <ooo-1@example.com>",
        "Auto-Submitted: auto-replied",
        "X-Autoreply: yes",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if in_reply_to:
        headers.append(f"In-Reply-To: {in_reply_to}")
    return ("\r\n".join(headers) + "\r\n\r\nI am out of the office until Monday.\r\n").encode()


def make_feedback_report(*, complainant: str, original_headers: str) -> bytes:
    """An ARF (RFC 5965) abuse report, as a mailbox provider's feedback loop sends it."""
    body = (
        "From: fbl@isp.example\nTo: bounce@mailcore.localhost\nSubject: FW: Abuse report\n"
        "Message-ID: <arf-1@isp.example>\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=feedback-report; boundary="ARF"\n\n'
        "--ARF\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
        "--ARF\nContent-Type: message/feedback-report\n\n"
        "Feedback-Type: abuse\nUser-Agent: ISP-FBL/1.0\nVersion: 1\n"
        f"Original-Rcpt-To: {complainant}\n\n"
        "--ARF\nContent-Type: text/rfc822-headers\n\n"
        + original_headers.strip("\n")
        + f"\nTo: {complainant}\n\n--ARF--\n"
    )
    return body.replace("\n", "\r\n").encode()
