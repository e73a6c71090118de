"""Campaign placeholders: checked before sending, rendered without running code, escaped in HTML."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from marketing.rendering import placeholder_errors, render

VALUES = {"contact": {"name": "Zoë <b>", "first_name": "", "email": "zoe@example.com"}, "campaign": {"subject": "Hi"}}


def test_known_placeholders_render_with_fallbacks_and_escaping() -> None:
    template = '<p>Dear {{ contact.name }}, {{contact.first_name|default:"friend"}} ({{ contact.email }})</p>'
    assert placeholder_errors(template) == []
    assert render(template, VALUES, as_html=True) == "<p>Dear Zoë &lt;b&gt;, friend (zoe@example.com)</p>"
    assert render("For {{ contact.name }}", VALUES, as_html=False) == "For Zoë <b>"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ contact.password }}", "contact has no field 'password': use name, first_name, email"),
        ("{{ user.email }}", "unknown object 'user': use one of contact, campaign, unsubscribe, preferences"),
        ("{{ contact.delete() }}", 'write {{ contact.name }} or {{ contact.name|default:"friend" }}'),
        ("{{ contact.name|upper }}", 'write {{ contact.name }} or {{ contact.name|default:"friend" }}'),
        ("{% for x in y %}", "template tags ({% … %}) are not allowed: only placeholders"),
    ],
)
def test_anything_else_is_an_error_found_before_sending(template: str, message: str) -> None:
    assert [e.message for e in placeholder_errors(template)] == [message]
    if "{{" in template:
        with pytest.raises(ValueError):
            render(template, VALUES, as_html=True)


@given(st.text())
def test_text_without_braces_is_left_alone(text: str) -> None:
    plain = text.replace("{", "(").replace("}", ")")
    assert placeholder_errors(plain) == []
    assert render(plain, VALUES, as_html=False) == plain
