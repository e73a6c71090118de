"""Everything that would stop a campaign from being sent, found before sending."""

from __future__ import annotations

from mailcore.addresses import email_normalize
from marketing.models import Mailing, ReplyToMode
from marketing.recipients import TargetFilterError, target_queryset
from marketing.rendering import placeholder_errors


def mailing_errors(mailing: Mailing) -> list[str]:
    """Everything that would stop a campaign from being sent, in words, found before sending."""
    errors = []
    if not mailing.subject.strip():
        errors.append("The subject is empty.")
    if email_normalize(mailing.email_from) is None:
        errors.append(f"The From address {mailing.email_from!r} is not a valid e-mail address.")
    if mailing.reply_to_mode == ReplyToMode.NEW and mailing.reply_to and email_normalize(mailing.reply_to) is None:
        errors.append(f"The Reply-To address {mailing.reply_to!r} is not a valid e-mail address.")
    for label, text in (("subject", mailing.subject), ("preview", mailing.preview), ("body", mailing.body_html)):
        errors.extend(f"In the {label}, {error}" for error in placeholder_errors(text))
    if mailing.target_model_id is None:
        if not mailing.pk or not mailing.mailing_lists.exists():
            errors.append("Choose at least one mailing list, or a model and a filter.")
    else:
        try:
            target_queryset(mailing)
        except TargetFilterError as exc:
            errors.extend(f"Recipients: {error}." for error in exc.errors)
    return errors
