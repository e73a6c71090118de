import smtplib

import pytest

from mailcore.testing.smtp import SmtpSink


def test_sink_records_and_fails_on_demand(smtp_sink: SmtpSink) -> None:
    smtp_sink.fail("RCPT", "550 5.1.1 <bad@example.com>: Recipient address rejected", address="bad@example.com")
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=5) as client:
        client.sendmail("a@example.com", ["ok@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as excinfo:
            client.sendmail("a@example.com", ["bad@example.com"], b"Subject: hi\r\n\r\nbody\r\n")
    assert excinfo.value.recipients["bad@example.com"][0] == 550
    assert [m.rcpt_tos for m in smtp_sink.messages] == [["ok@example.com"]]
