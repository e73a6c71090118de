"""The body sanitiser and the plain-text converters."""

from __future__ import annotations

import pytest

from chatter.sanitize import html_block_remote_images, html_sanitize, html_to_plaintext, plaintext_to_html


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


OVERLAY = (
    '<div style="position:fixed;top:0;left:0;width:100vw;height:100vh;z-index:2147483647;'
    'background:url(https://tracker.example/bg.png);color:red">Your session expired, log in again</div>'
)


def test_inline_styles_keep_only_harmless_text_properties() -> None:
    cleaned = html_sanitize(OVERLAY)
    assert cleaned == '<div style="color:red">Your session expired, log in again</div>'
    kept = (
        '<span style="color:#333;background-color:yellow;font-weight:bold;font-style:italic;'
        'text-decoration:underline;text-align:center">x</span>'
    )
    assert html_sanitize(kept) == kept
    for dangerous in ("position:absolute", "margin-top:-500px", "display:none", "transform:scale(40)", "opacity:0"):
        assert html_sanitize(f'<p style="{dangerous}">x</p>') == '<p style="">x</p>'


def test_remote_images_are_hidden_until_asked_for() -> None:
    body, hidden = html_block_remote_images(
        '<p>Hi</p><img src="https://tracker.example/open.gif?u=1&amp;m=2" alt="logo" width="1">'
        '<img src="//tracker.example/p.gif"><img src="/queue/"><img src="HTTP://TRACKER.EXAMPLE/x">'
    )
    assert hidden
    assert " src=" not in body
    assert (
        '<img data-remote-src="https://tracker.example/open.gif?u=1&amp;m=2" alt="logo" width="1">'
        '<img data-remote-src="//tracker.example/p.gif"><img data-remote-src="/queue/">'
        '<img data-remote-src="HTTP://TRACKER.EXAMPLE/x">'
    ) in body


def test_an_attribute_value_cannot_hide_the_real_source() -> None:
    # A value that looks like the start of a src attribute must not be taken for it.
    body, hidden = html_block_remote_images('<img title="x src=" src="https://tracker.example/a.gif" alt="a>b">')
    assert hidden
    assert body == '<img title="x src=" data-remote-src="https://tracker.example/a.gif" alt="a&gt;b">'


def test_inline_and_data_images_are_shown() -> None:
    html = '<img src="cid:logo@example" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
    body, hidden = html_block_remote_images(html, cid_urls={"logo@example": "/chatter/attachments/7/"})
    assert not hidden
    assert body == (
        '<img src="/chatter/attachments/7/" alt="logo"><img src="data:image/png;base64,iVBORw0KGgo=" alt="dot">'
    )
    # An inline part we do not have stays a cid: reference (the browser loads nothing for it).
    assert html_block_remote_images('<img src="cid:other@example">') == ('<img src="cid:other@example">', False)


def test_bodies_stored_under_older_rules_are_sanitised_again_for_display() -> None:
    body, _ = html_block_remote_images(OVERLAY + '<script>alert(1)</script><img src="x" onerror="alert(2)">')
    assert "position" not in body and "alert" not in body and "onerror" not in body
