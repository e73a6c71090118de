"""The table of SMTP replies: every reply's enhanced status code agrees with its basic code."""

from __future__ import annotations

import re

import pytest

from bounces.replies import AIOSMTPD_REPLIES, Policy, Reply, policy_reply, with_enhanced_code

_REPLY_LINE = re.compile(r"^([245])\d\d[ -]([245])\.\d{1,3}\.\d{1,3} ")


@pytest.mark.parametrize("reply", list(Reply), ids=lambda r: r.name)
def test_every_reply_carries_an_enhanced_code_of_its_class(reply: Reply) -> None:
    match = _REPLY_LINE.match(reply.value)
    assert match is not None and match.group(1) == match.group(2), reply.value


@pytest.mark.parametrize("builtin", list(AIOSMTPD_REPLIES))
def test_aiosmtpd_answers_are_sent_from_the_table(builtin: str) -> None:
    assert with_enhanced_code(builtin) in set(Reply)


def test_other_aiosmtpd_answers_get_the_enhanced_code_of_their_basic_code() -> None:
    assert with_enhanced_code("503 Error: send HELO first") == "503 5.5.1 Error: send HELO first"
    assert with_enhanced_code(Reply.NUL) == Reply.NUL


def test_a_long_policy_text_is_folded_into_one_multiline_reply() -> None:
    reply = policy_reply(Policy.REFUSED, "word " * 100, width=60)
    lines = reply.split("\r\n")
    assert len(lines) > 1
    assert all(line.startswith("550-5.7.1 ") for line in lines[:-1]) and lines[-1].startswith("550 5.7.1 ")
    assert all(len(line) <= 60 + len("550-5.7.1 ") for line in lines)
