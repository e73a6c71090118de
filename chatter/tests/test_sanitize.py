"""The body sanitiser and the plain-text converters."""

from __future__ import annotations

import pytest

from chatter.sanitize import html_sanitize, html_to_plaintext, plaintext_to_html


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<script>alert(1)</script><p>x</p>", "alert"),
        ('<img src="x.png" onerror="alert(1)">', "onerror"),
        ('<p onclick="go()">x</p>', "onclick"),
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', "alert"),
        ('<a href="data:text/html;base64,PHNjcmlwdD4=">x</a>', "data:"),
        ('<img src="data:text/html,x">', "data:"),
        ('<iframe src="https://evil.example"></iframe>', "iframe"),
        ("<style>body{display:none}</style><p>x</p>", "display:none"),
        ('<form action="/x"><input name="a"></form>', "form"),
        ('<object data="x.swf"></object>', "object"),
    ],
)
def test_dangerous_markup_is_removed(dirty: str, forbidden: str) -> None:
    assert forbidden.lower() not in html_sanitize(dirty).lower()


@pytest.mark.parametrize(
    "kept",
    [
        "<p>para</p>",
        "<b>bold</b>",
        "<strong>strong</strong>",
        "<em>em</em>",
        "<u>under</u>",
        "<s>strike</s>",
        "<h1>title</h1>",
        "<blockquote>quote</blockquote>",
        "<pre>code</pre>",
        "<ol><li>one</li></ol>",
        '<span style="color:red">red</span>',
        '<font color="blue">blue</font>',
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">',
        '<img src="cid:logo@example" alt="logo">',
    ],
)
def test_formatting_is_kept(kept: str) -> None:
    assert html_sanitize(kept) == kept


def test_links_keep_their_target_and_get_a_safe_rel() -> None:
    cleaned = html_sanitize('<a href="mailto:a@example.com">mail</a> <a href="https://example.com">web</a>')
    assert '<a href="mailto:a@example.com" rel="noopener noreferrer">mail</a>' in cleaned
    assert '<a href="https://example.com" rel="noopener noreferrer">web</a>' in cleaned


def test_plaintext_to_html_escapes_and_keeps_paragraphs() -> None:
    assert plaintext_to_html("a < b\r\nc & d\n\n\n\nnext") == "<p>a &lt; b<br>c &amp; d</p><p>next</p>"
    assert plaintext_to_html("") == ""
    assert plaintext_to_html("\"quoted\" 'single'") == "<p>&quot;quoted&quot; &#x27;single&#x27;</p>"


def test_html_to_plaintext() -> None:
    html = '<p>Hello <b>you</b></p><p>See <a href="https://example.com">this</a><br>now &amp; later</p>'
    assert html_to_plaintext(html) == "Hello you\nSee this [https://example.com]\nnow & later"
