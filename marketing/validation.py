"""Everything that would stop a campaign from being sent, found before sending."""

from __future__ import annotations

from django.utils.translation import gettext as _

from mailcore.addresses import email_normalize
from marketing.models import Mailing, ReplyToMode
from marketing.recipients import TargetFilterError, target_queryset
from marketing.rendering import placeholder_errors


def mailing_errors(mailing: Mailing) -> list[str]:
    """Everything that would stop a campaign from being sent, in words, found before sending."""
    errors = []
    if not mailing.subject.strip():
        errors.append(_("The subject is empty."))
    if email_normalize(mailing.email_from) is None:
        errors.append(
            _("The From address %(address)r is not a valid e-mail address.") % {"address": mailing.email_from}
        )
    if mailing.reply_to_mode == ReplyToMode.NEW and mailing.reply_to and email_normalize(mailing.reply_to) is None:
        errors.append(
            _("The Reply-To address %(address)r is not a valid e-mail address.") % {"address": mailing.reply_to}
        )
    where = (
        (_("In the subject, %(error)s"), mailing.subject),
        (_("In the preview, %(error)s"), mailing.preview),
        (_("In the body, %(error)s"), mailing.body_html),
    )
    for message, text in where:
        errors.extend(message % {"error": error} for error in placeholder_errors(text))
    for variant in mailing.translations.all() if mailing.pk else []:
        where = (
            (_("In the subject (%(lang)s), %(error)s"), variant.subject),
            (_("In the preview (%(lang)s), %(error)s"), variant.preview),
            (_("In the body (%(lang)s), %(error)s"), variant.body_html),
        )
        for message, text in where:
            errors.extend(
                message % {"lang": variant.get_lang_display(), "error": error} for error in placeholder_errors(text)
            )
    if mailing.target_model_id is None:
        if not mailing.pk or not mailing.mailing_lists.exists():
            errors.append(_("Choose at least one mailing list, or a model and a filter."))
    else:
        try:
            target_queryset(mailing)
        except TargetFilterError as exc:
            errors.extend(_("Recipients: %(error)s.") % {"error": error} for error in exc.errors)
    return errors
