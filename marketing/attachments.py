"""A campaign's attachments: files on the campaign's chatter message, so every mail of the
campaign (and its test) carries them, as the queue attaches its message's files to each mail."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import QuerySet, Sum
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from chatter.models import Attachment
from marketing import conf
from marketing.exceptions import AttachmentsTooLarge, MailingNotReady
from marketing.models import Mailing, MailingState
from marketing.queue import campaign_message


@dataclass(frozen=True)
class UploadedFile:
    name: str
    content: bytes
    mimetype: str = ""


def mailing_attachments(mailing: Mailing) -> QuerySet[Attachment]:
    """The campaign's attachments, oldest first (without creating its message)."""
    content_type = ContentType.objects.get_for_model(Mailing)
    return (
        Attachment.objects.filter(messages__model=content_type, messages__res_id=mailing.pk)
        .defer("datas")
        .order_by("id")
    )


def _require_draft(mailing: Mailing) -> None:
    if mailing.state != MailingState.DRAFT:
        raise MailingNotReady([_("Only a draft can be changed: cancel the campaign first.")])


def mailing_attachments_add(*, mailing: Mailing, files: list[UploadedFile]) -> list[Attachment]:
    """Attach ``files`` to a draft campaign, all or none: past the size limit (all the campaign's
    attachments together, since every recipient's mail carries them) nothing is added."""
    _require_draft(mailing)
    if not files:
        return []
    with transaction.atomic():
        current = mailing_attachments(mailing).aggregate(total=Sum("file_size"))["total"] or 0
        total = current + sum(len(f.content) for f in files)
        limit = conf.attachments_max_bytes()
        if total > limit:
            raise AttachmentsTooLarge(
                _(
                    "The attachments would weigh %(total)s, more than the %(limit)s a campaign may carry "
                    "(every recipient's mail holds them all). Nothing was attached."
                )
                % {"total": filesizeformat(total), "limit": filesizeformat(limit)}
            )
        attachments = Attachment.objects.bulk_create(
            Attachment(
                name=(f.name or "attachment")[:255],
                mimetype=f.mimetype or mimetypes.guess_type(f.name)[0] or "application/octet-stream",
                datas=f.content,
                file_size=len(f.content),
            )
            for f in files
        )
        campaign_message(mailing).attachments.add(*attachments)
    return attachments


def mailing_attachments_remove(*, mailing: Mailing, attachment_ids: list[int]) -> int:
    """Take attachments off a draft campaign; returns how many were removed."""
    _require_draft(mailing)
    doomed = list(mailing_attachments(mailing).filter(pk__in=attachment_ids).values_list("pk", flat=True))
    if doomed:
        campaign_message(mailing).attachments.remove(*doomed)
        # Files no other message holds (a duplicate's campaign shares them) are deleted.
        Attachment.objects.filter(pk__in=doomed, messages__isnull=True).delete()
    return len(doomed)


def mailing_attachments_copy(*, source: Mailing, target: Mailing) -> None:
    """The duplicate of a campaign carries the same files (shared, not copied)."""
    ids = list(mailing_attachments(source).values_list("pk", flat=True))
    if ids:
        campaign_message(target).attachments.add(*ids)
