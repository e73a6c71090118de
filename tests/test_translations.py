"""The catalogues are complete and the templates leave no text untranslated.

1. ``makemessages`` runs on a copy of the code (the real catalogues are never rewritten by a test)
   and every catalogue of a translated part must then have a translation for every string, none
   fuzzy, placeholders and plural forms consistent (``msgfmt --check``).
2. Every template of a translated part is parsed: a text node or a user-visible attribute
   (title, aria-label, placeholder, alt, data-confirm) with letters outside ``{% translate %}`` /
   ``{% blocktranslate %}`` fails, except the few words in ALLOWED_TEXT (brand, symbols).
3. Every form our pages render shows its labels, help texts and choices in French and Japanese: a
   text equal to its English one fails (a field without a translated verbose name, a label fixed
   at import time with ``gettext`` instead of ``gettext_lazy``), except the words in SAME_AS_ENGLISH.
4. The Django admin's change forms of a mail row, an inbound message and a chatter message show every
   label and help text in Japanese, except the protocol's names (PROTOCOL_NAMES).

TRANSLATED lists the parts done so far; each part is a directory holding ``templates/`` and, for an
app, its own ``locale/`` (the top-level ``templates/`` and ``config/`` share ``locale/``). When every
app is translated the list covers them all.
"""

from __future__ import annotations

import importlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django import forms
from django.core.management import call_command
from django.http import HttpResponse
from django.template.base import Lexer, TokenType
from django.test import Client, override_settings
from django.utils import translation
from django.utils.html import escape
from django.utils.text import capfirst

from tests.languages import compile_catalogues

ROOT = Path(__file__).resolve().parent.parent
LOCALES = ["fr", "ja", "ro", "zh_Hans"]

# Directory (relative to ROOT) -> the catalogue directory its strings go to.
# e.g. "templates": "locale", "config": "locale", "chatter": "chatter/locale", "bounces": "bounces/locale"
TRANSLATED: dict[str, str] = {
    "templates": "locale",
    "config": "locale",
    "mailcore": "mailcore/locale",
    "chatter": "chatter/locale",
    "console": "console/locale",
    "mailqueue": "mailqueue/locale",
    "bounces": "bounces/locale",
    "marketing": "marketing/locale",
    "demo": "demo/locale",
}
# Single templates translated ahead of their app (the notification e-mail layout).
TRANSLATED_TEMPLATES: list[str] = ["mailqueue/templates/mailqueue/mail/notification_body.html"]

# Words that are the same in every language: the product's name, symbols, units.
ALLOWED_TEXT = {"mailcore", "Odoo", "SMTP", "DKIM", "SPF", "DMARC", "MX", "UTC", "ID", "URL", "API", "×", "·", "…"}
# Protocol names shown as they appear on the wire: SMTP commands and header fields, the .eml extension.
ALLOWED_TEXT |= {"MAIL", "FROM", "RCPT", "TO", "HELO", "Message-Id", "Message-ID", "Reply-To", "In-Reply-To"}
ALLOWED_TEXT |= {"References", "Auto-Submitted", "eml"}
VISIBLE_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt", "data-confirm"}
# Applications of the project: makemessages' copy needs them, their tests and data do not matter.
COPIED = ["config", "templates", "locale", "mailcore", "chatter", "mailqueue", "bounces", "marketing", "demo"]
COPIED += ["console"]

pytestmark = pytest.mark.skipif(shutil.which("msgattrib") is None, reason="needs gettext (make system-deps)")


def _catalogues(root: Path) -> Iterator[tuple[str, Path]]:
    for locale_dir in sorted(set(TRANSLATED.values())):
        for lang in LOCALES:
            yield f"{locale_dir}/{lang}", root / locale_dir / lang / "LC_MESSAGES" / "django.po"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the code whose catalogues makemessages has just brought up to date."""
    copy = tmp_path_factory.mktemp("messages")
    for name in COPIED:
        shutil.copytree(
            ROOT / name, copy / name, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.mo", "static")
        )
    cwd = os.getcwd()
    os.chdir(copy)
    try:
        with override_settings(LOCALE_PATHS=[copy / "locale"]):
            call_command(
                "makemessages",
                locale=LOCALES,
                no_obsolete=True,
                no_location=True,
                no_wrap=True,
                ignore_patterns=["tests", "*/tests/*"],
                verbosity=0,
            )
    finally:
        os.chdir(cwd)
    return copy


@pytest.mark.parametrize("catalogue", [name for name, _ in _catalogues(ROOT)])
def test_catalogue_is_complete(regenerated: Path, catalogue: str) -> None:
    path = dict(_catalogues(regenerated))[catalogue]
    assert path.exists(), f"{catalogue}: no catalogue (run `make messages`)"
    untranslated = subprocess.run(
        ["msgattrib", "--untranslated", "--no-wrap", str(path)], capture_output=True, text=True, check=True
    ).stdout
    fuzzy = subprocess.run(
        ["msgattrib", "--only-fuzzy", "--no-wrap", str(path)], capture_output=True, text=True, check=True
    ).stdout
    missing = re.findall(r'^msgid "(.+)"$', untranslated, re.MULTILINE)
    assert not missing, f"{catalogue}: untranslated (run `make messages`, then translate): {missing}"
    assert not re.findall(r'^msgid "(.+)"$', fuzzy, re.MULTILINE), f"{catalogue}: fuzzy entries:\n{fuzzy}"
    check = subprocess.run(["msgfmt", "--check", "-o", os.devnull, str(path)], capture_output=True, text=True)
    assert check.returncode == 0, f"{catalogue}: {check.stderr}"


def test_committed_catalogues_are_up_to_date(regenerated: Path) -> None:
    """The committed .po files hold every string of the code (so `make messages` was run)."""
    for name, path in _catalogues(ROOT):
        committed = set(re.findall(r'^msgid "(.+)"$', path.read_text(), re.MULTILINE)) if path.exists() else set()
        fresh_path = dict(_catalogues(regenerated))[name]
        fresh = set(re.findall(r'^msgid "(.+)"$', fresh_path.read_text(), re.MULTILINE))
        assert fresh <= committed, f"{name}: not in the committed catalogue: {sorted(fresh - committed)}"


# --- templates --------------------------------------------------------------------------------------
# Stands for a tag or variable: valid wherever HTML allows an attribute name, and holds no letter.
PLACEHOLDER = "_0_"
LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
# A block holding a CSS class (``{% block page_class %}page-narrow{% endblock %}``) is not text.
CSS_CLASS = re.compile(r"^[a-z]+(-[a-z]+)+$")


def _template_files() -> list[Path]:
    files = [ROOT / t for t in TRANSLATED_TEMPLATES]
    for part in TRANSLATED:
        base = ROOT / part if part == "templates" else ROOT / part / "templates"
        if base.is_dir():
            files += [p for p in base.rglob("*") if p.suffix in {".html", ".txt"} and "tests" not in p.parts]
    return sorted(set(files))


def _without_translated_parts(source: str) -> str:
    """The template's text with every tag, variable, comment and translated block made a placeholder."""
    out: list[str] = []
    skipping: str | None = None
    for token in Lexer(source).tokenize():
        if skipping:
            if token.token_type == TokenType.BLOCK and token.contents.split()[0] == skipping:
                skipping = None
            continue
        if token.token_type == TokenType.TEXT:
            out.append(token.contents)
            continue
        if token.token_type == TokenType.BLOCK:
            word = token.contents.split()[0] if token.contents else ""
            if token.contents.split()[:2] == ["block", "page_class"]:
                skipping = "endblock"  # a CSS class name, not text
            elif word in {"blocktranslate", "blocktrans"}:
                skipping = "endblocktranslate" if word == "blocktranslate" else "endblocktrans"
            elif word == "comment":
                skipping = "endcomment"
        out.append(PLACEHOLDER)
    return "".join(out)


def _is_untranslated(text: str) -> bool:
    words = [w for w in re.split(r"\s+|" + PLACEHOLDER, text) if w]
    leftover = [w for w in words if w.strip(".,:;!?()[]\"'") not in ALLOWED_TEXT and not CSS_CLASS.match(w)]
    return any(LETTERS.search(w) for w in leftover)


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._hidden += 1
        for name, value in attrs:
            if name in VISIBLE_ATTRIBUTES and value and _is_untranslated(value):
                self.found.append(f'{name}="{value}"')

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and _is_untranslated(data):
            self.found.append(data.strip().replace(PLACEHOLDER, "…"))


# A filter's literal text is shown too: ``|default:"None"`` must be ``|default:_("None")``.
FILTER_LITERAL = re.compile(r"\|default(?:_if_none)?:(\"[^\"]*[^\W\d_][^\"]*\"|'[^']*[^\W\d_][^']*')")


def untranslated_text(source: str) -> list[str]:
    parser = _VisibleText()
    parser.feed(_without_translated_parts(source))
    parser.close()
    literals = [m for m in FILTER_LITERAL.findall(source) if not re.fullmatch(r"[a-z_-]+", m[1:-1])]  # CSS classes
    return parser.found + [f"default:{m}" for m in literals]


@pytest.mark.parametrize("template", _template_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_template_text_is_translated(template: Path) -> None:
    assert untranslated_text(template.read_text()) == []


def test_untranslated_text_is_found() -> None:
    """The checker itself: text, a title attribute, and a translated block are told apart."""
    assert untranslated_text("<p>Retry</p>") == ["Retry"]
    assert untranslated_text('<a title="Retry">{% translate "x" %}</a>') == ['title="Retry"']
    assert untranslated_text("<p>{% translate 'Retry' %} · mailcore</p>") == []
    assert untranslated_text("{% blocktranslate %}Sent {{ n }} mails{% endblocktranslate %}") == []
    assert untranslated_text("<style>.a { color: red }</style><script>let a;</script>") == []
    assert untranslated_text("<p>{{ n }} mails</p>") == ["… mails"]
    assert untranslated_text('<p>{{ a|default:"None" }}{{ b|default:_("None") }}</p>') == ['default:"None"']


# --- one word for one thing -------------------------------------------------------------------------
# Django merges every catalogue of a language into one: LOCALE_PATHS first, then the apps in
# INSTALLED_APPS order, the first translation of a (context, msgid) winning. Two catalogues that
# translate the same string differently therefore show one app's word on another app's page. The
# same English word meaning two things gets a context instead (pgettext, ``{% translate … context %}``).
PO_KEYWORD = re.compile(r'^(msgctxt|msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$')


def _project_catalogues(lang: str) -> list[Path]:
    """The catalogues of ``lang`` Django loads for this project (its own, not Django's or libraries')."""
    from django.apps import apps
    from django.conf import settings

    dirs = [Path(p) for p in settings.LOCALE_PATHS] + [Path(a.path) / "locale" for a in apps.get_app_configs()]
    # Our own apps only: a virtualenv may live inside the checkout, and Django's and third-party
    # catalogues are theirs to word.
    ours = [d for d in dirs if d.resolve().is_relative_to(ROOT) and "site-packages" not in d.resolve().parts]
    paths = [d / lang / "LC_MESSAGES" / "django.po" for d in ours]
    return [p for p in paths if p.exists()]


def po_entries(text: str) -> dict[tuple[str, str], tuple[str, ...]]:
    """(msgctxt, msgid) -> its msgstr (every plural form), for the translated, non-fuzzy entries.

    Strings are kept as written in the file (escapes included): equal text is written equally.
    """
    entries: dict[tuple[str, str], tuple[str, ...]] = {}
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = ""
        fuzzy = False
        for line in block.splitlines():
            if line.startswith("#,") and "fuzzy" in line:
                fuzzy = True
            elif match := PO_KEYWORD.match(line):
                key = match[1]
                fields[key] = match[2]
            elif line.startswith('"') and key:
                fields[key] += line[1:-1]
        msgstr = tuple(v for k, v in sorted(fields.items()) if k.startswith("msgstr"))
        if fields.get("msgid") and not fuzzy and any(msgstr):
            entries[(fields.get("msgctxt", ""), fields["msgid"])] = msgstr
    return entries


@pytest.mark.parametrize("lang", LOCALES)
def test_one_translation_per_string_across_catalogues(lang: str) -> None:
    seen: dict[tuple[str, str], dict[str, tuple[str, ...]]] = {}
    for path in _project_catalogues(lang):
        name = str(path.relative_to(ROOT).parent.parent.parent)
        for key, msgstr in po_entries(path.read_text(encoding="utf-8")).items():
            seen.setdefault(key, {})[name] = msgstr
    differing = [
        f"{msgid!r}{f' (context {ctx!r})' if ctx else ''}: "
        + "; ".join(f"{' / '.join(msgstr)} in {name}" for name, msgstr in by_catalogue.items())
        for (ctx, msgid), by_catalogue in sorted(seen.items())
        if len(set(by_catalogue.values())) > 1
    ]
    if differing:
        pytest.fail(f"{lang}: the same string translated differently:\n" + "\n".join(differing), pytrace=False)


@pytest.mark.parametrize("lang", LOCALES)
def test_our_translation_is_the_one_shown(compiled: None, lang: str) -> None:
    """No other app's catalogue (Django's admin, django_celery_beat …) replaces our word for a string."""
    shown_otherwise = []
    with translation.override(translation.to_language(lang)):
        for path in _project_catalogues(lang):
            for (ctx, msgid), msgstr in po_entries(path.read_text(encoding="utf-8")).items():
                if len(msgstr) > 1 or "\\" in msgid or "\\" in msgstr[0]:
                    continue  # plurals and escapes: compared as written, not worth decoding here
                shown = translation.pgettext(ctx, msgid) if ctx else translation.gettext(msgid)
                if shown != msgstr[0]:
                    shown_otherwise.append(f"{msgid!r}: {msgstr[0]!r} in {path.relative_to(ROOT)}, shown {shown!r}")
    assert not shown_otherwise, f"{lang}:\n" + "\n".join(shown_otherwise)


def test_po_entries_reads_contexts_plurals_and_skips_fuzzy() -> None:
    text = (
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n\n'
        'msgctxt "state"\nmsgid "Received"\nmsgstr "Reçu"\n\n'
        'msgid "Received"\nmsgstr ""\n"Date de "\n"réception"\n\n'
        'msgid "%(n)d mail"\nmsgid_plural "%(n)d mails"\nmsgstr[0] "%(n)d e-mail"\nmsgstr[1] "%(n)d e-mails"\n\n'
        '#, fuzzy\nmsgid "Failed"\nmsgstr "Échoué"\n\n'
        'msgid "Sent"\nmsgstr ""\n'
    )
    assert po_entries(text) == {
        ("state", "Received"): ("Reçu",),
        ("", "Received"): ("Date de réception",),
        ("", "%(n)d mail"): ("%(n)d e-mail", "%(n)d e-mails"),
    }


# --- the forms of our pages ---------------------------------------------------------------------------
# The modules whose views render forms; every form class defined in them is checked.
FORM_MODULES = ["mailcore.views", "chatter.views", "chatter.views_chatter", "chatter.views_inbox"]
FORM_MODULES += ["mailqueue.views", "bounces.views", "marketing.views", "marketing.public_views", "console.views"]
# Texts a form may show unchanged: protocol names, and words the language writes as English does.
SAME_AS_ENGLISH = {
    "fr": {"E-mail", "TLS (STARTTLS)", "SSL/TLS", "Description", "Notes", "Proposition", "Total"},
    "ja": {"TLS (STARTTLS)", "SSL/TLS"},
}


def _page_forms() -> list[forms.BaseForm]:
    from chatter.selectors import record_types
    from chatter.views import _record_form_class

    found: list[forms.BaseForm] = []
    for module_name in FORM_MODULES:
        for obj in vars(importlib.import_module(module_name)).values():
            if isinstance(obj, type) and issubclass(obj, forms.BaseForm) and obj.__module__ == module_name:
                found.append(obj())
    # The record pages build one form per record type.
    found += [_record_form_class(record_type)() for record_type in record_types()]
    return found


def _form_texts(form: forms.BaseForm) -> dict[str, str]:
    """What the form shows of each field, in the active language: label, help text, choices."""
    texts: dict[str, str] = {}
    for name, field in form.fields.items():
        texts[f"{name}: label"] = str(form[name].label)  # a field without a label shows its name
        if field.help_text:
            texts[f"{name}: help text"] = str(field.help_text)
        if isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
            texts |= {f"{name}: choice {value!r}": str(label) for value, label in field.choices if value != ""}
    return texts


@pytest.fixture(scope="module")
def compiled() -> None:
    for locale_dir in sorted(set(TRANSLATED.values())):
        compile_catalogues(ROOT / locale_dir)


@pytest.mark.django_db
@pytest.mark.parametrize("lang", ["fr", "ja"])
def test_form_texts_are_translated(compiled: None, lang: str) -> None:
    page_forms = _page_forms()
    names = {type(form).__name__ for form in page_forms}
    assert {"MailServerForm", "AliasDomainForm", "AliasForm", "MailingForm", "MailingListForm"} <= names
    untranslated = []
    for form in page_forms:
        with translation.override("en"):
            english = _form_texts(form)
        with translation.override(lang):
            translated = _form_texts(form)
        untranslated += [
            f"{type(form).__name__} {key} {text!r}"
            for key, text in english.items()
            if translated[key] == text and text not in SAME_AS_ENGLISH[lang]
        ]
    assert not untranslated, f"{lang}: shown in English:\n" + "\n".join(untranslated)


def test_form_texts_catch_a_label_fixed_at_import() -> None:
    """The checker itself: a label translated once at import is the same in every language."""

    class Fixed(forms.Form):
        with translation.override("fr"):
            port = forms.IntegerField(label=translation.gettext("Password"))

    with translation.override("en"):
        english = _form_texts(Fixed())
    with translation.override("ja"):
        assert _form_texts(Fixed()) == english


# --- the Django admin -----------------------------------------------------------------------------------
# Names an admin reads as they are written in a transcript or a message's header.
PROTOCOL_NAMES = {"Message-Id", "MAIL FROM", "RCPT TO", "References", "In-Reply-To", "Auto-Submitted", "ID"}


def _admin_texts(response: HttpResponse) -> dict[str, str]:
    """Each field's label and help text on an admin change form (its inlines' columns too), evaluated
    in the active language."""
    texts: dict[str, str] = {}
    for fieldset in response.context["adminform"]:
        for line in fieldset:
            for field in line:
                if field.is_readonly:
                    label, help_text = field.field["label"], field.field["help_text"]
                else:
                    label, help_text = field.field.label, field.field.help_text
                name = field.field["name"] if field.is_readonly else field.field.name
                texts[f"{name}: label"] = str(capfirst(label))
                if help_text:
                    texts[f"{name}: help text"] = str(help_text)
    for inline in response.context["inline_admin_formsets"]:
        for column in inline.fields():
            texts[f"{inline.opts.model.__name__}.{column['name']}: label"] = str(column["label"])
            if column.get("help_text"):
                texts[f"{inline.opts.model.__name__}.{column['name']}: help text"] = str(column["help_text"])
    return texts


@pytest.mark.django_db
def test_admin_change_forms_are_translated(compiled: None) -> None:
    """A mail row's, an inbound message's and a chatter message's admin pages in Japanese: every label
    and help text (the recipients' and notifications' columns too) is shown translated, except the
    protocol's names."""
    from django.contrib.auth import get_user_model

    from bounces.models import InboundDecision, InboundMessage
    from chatter.models import Message, Notification, NotificationKind
    from chatter.ui_services import partner_for_user
    from mailcore.models import Partner
    from mailqueue.models import Mail, MailRecipient

    user = get_user_model().objects.create_superuser("admin-ja", password="pw")
    Partner.objects.filter(pk=partner_for_user(user).pk).update(lang="ja")
    client = Client()
    client.force_login(user)
    mail = Mail.objects.create(message=Message.objects.create(subject="Offer"), subject="Offer")
    MailRecipient.objects.create(mail=mail, email="bob@example.com")
    Notification.objects.create(
        message=mail.message, res_partner=Partner.objects.create(name="Bob"), notification_type=NotificationKind.EMAIL
    )
    inbound = InboundMessage.objects.create(
        queue_id="Q1", raw=b"Subject: hi\r\n\r\nhi\r\n", decision=InboundDecision.ACCEPTED
    )

    for url, expected in (
        (
            f"/admin/mailqueue/mail/{mail.pk}/change/",
            ["予約日時", "この日時(UTC)より前には送信されません。", "送信Eメール"],
        ),
        (f"/admin/bounces/inboundmessage/{inbound.pk}/change/", ["受信日時", "HELO/EHLO名", "生のメッセージ"]),
        (
            f"/admin/chatter/message/{mail.message_id}/change/",
            ["関連ドキュメントモデル", "サニタイズ済みのHTML。", "失敗理由"],
        ),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert '<html lang="ja"' in html
        with translation.override("en"):
            english = _admin_texts(response)
        with translation.override("ja"):
            japanese = _admin_texts(response)
        untranslated = [
            f"{key} {text!r}" for key, text in english.items() if japanese[key] == text and text not in PROTOCOL_NAMES
        ]
        assert not untranslated, f"{url}: shown in English:\n" + "\n".join(untranslated)
        not_shown = [text for text in japanese.values() if text not in html and escape(text) not in html]
        assert not not_shown, f"{url}: not on the page: {not_shown}"
        for text in expected:
            assert text in html, (url, text)
