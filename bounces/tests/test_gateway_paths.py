"""The gateway's fast path for ``<local@domain>`` answers exactly as aiosmtpd's parser does."""

from __future__ import annotations

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import given, settings
from hypothesis import strategies as st

from bounces.gateway import GatewaySMTP


def _outcome(server: SMTP, arg: str) -> object:
    try:
        return server._getaddr(arg)
    except Exception:  # aiosmtpd crashes on some inputs ('<', '"', 'a@['); the gateway calls them malformed
        return (None, None)


def _both(arg: str, limit: int = 0) -> tuple[object, object]:
    ours = GatewaySMTP.__new__(GatewaySMTP)
    theirs = SMTP.__new__(SMTP)
    ours.local_part_limit = theirs.local_part_limit = limit
    return _outcome(ours, arg), _outcome(theirs, arg)


CASES = [
    "<a@b.com>",
    " <a@b.com>  SIZE=100",
    "<a.b@c> x",
    "<a..b@c>",
    "<.a@c>",
    "<>",
    "",
    "<a@[1.2.3.4]>",
    "a@b.com SIZE=1",
    '<"q r"@b>',
    "<a@b> (comment) x",
    "<A@B.COM>\t BODY=8BITMIME SMTPUTF8",
    "<catchall+12.34-abcdefghij@mailcore.localhost>",
    "<bounce+1-2@mailcore.localhost> NOTIFY=NEVER",
    "<jöhn@exämple.com> SMTPUTF8",
    "<a@b.c.>",
    "<a@-b.c>",
    "<@relay.example:a@b.c>",
    "<a@b>x",
    "<a@b>>",
    "<",
    '"',
    "a@[",
]


@pytest.mark.parametrize("arg", CASES)
def test_same_answer_as_aiosmtpd(arg: str) -> None:
    ours, theirs = _both(arg)
    assert ours == theirs


def test_local_part_limit_is_kept() -> None:
    assert _both("<abcdef@b.c>", limit=5) == ((None, None), (None, None))
    assert _both("<abcde@b.c> X", limit=5) == (("abcde@b.c", "X"), ("abcde@b.c", "X"))


_alphabet = st.sampled_from([*list('ab.@<>- \t"()[]+=:,;\\é'), "SIZE=1", "x"])


@settings(max_examples=600, deadline=None, derandomize=True)
@given(st.lists(_alphabet, max_size=16).map("".join))
def test_any_argument_gets_the_same_answer(arg: str) -> None:
    ours, theirs = _both(arg)
    assert ours == theirs
