"""Preparing claimed rows: server and senders, Message-ID, the message shared by all recipients.

Odoo ``_prepare_outgoing_list`` and ``build_email``. The part of a message common to every
recipient is rendered once per row; only ``Return-Path`` and ``To`` are prepended per recipient.
This is the one renderer of outgoing mail: the sender, Download .eml of a row not sent yet
(:func:`render_unsent`) and the support bundle all use it, and what was sent is kept byte for
byte (:class:`~mailqueue.models.SentContent`).
"""

from __future__ import annotations

import logging
from email import policy as email_policy
from email.utils import formatdate, getaddresses

from django.db.models import Prefetch

from chatter.models import Attachment as ChatterAttachment
from chatter.models import FailureType, Message
from chatter.sanitize import html_to_plaintext
from mailcore.addresses import email_normalize, formataddr, make_message_id
from mailcore.dkim import dkim_sign, dkim_signing_domain
from mailcore.exceptions import MailFromError
from mailcore.models import AliasDomain, MailServer
from mailcore.servers import ServerChoice, server_find, servers_active
from mailcore.signed_addresses import bounce_address
from mailqueue.exceptions import EmlNotAvailable, MailDeliveryError, PermanentDeliveryError
from mailqueue.models import Mail, MailRecipient, RecipientState
from mailqueue.sender.records import Job, Kind, Outcome, Target
from mailqueue.sender.writer import Attachment, Draft, header_error, write_message

logger = logging.getLogger(__name__)

# Odoo ``NO_VALID_RECIPIENT``.
NO_VALID_RECIPIENT = "At least one valid recipient address should be specified for outgoing emails (To/Cc/Bcc)"
# Headers written verbatim, never folded: MTAs rewrite Message-IDs they find folded (Odoo's
# IdentificationFieldsNoFoldPolicy), and a List-Unsubscribe URL folded into encoded words is no
# longer a URL a mail provider can POST to (RFC 2369, RFC 8058).
_ID_HEADERS = (
    "Message-ID",
    "In-Reply-To",
    "References",
    "X-Mailcore-Message-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
)
# Custom headers that cannot override what is per recipient or per envelope.
_PROTECTED_HEADERS = frozenset({"to", "cc", "bcc", "return-path"})
_SMTP_POLICY = email_policy.SMTP


# --- loading and building -----------------------------------------------------------------------
def load_jobs(ids: list[int], owner: str) -> list[Job]:
    # Prefetched into plain lists (``to_attr``): a related manager per row costs more than the
    # row's own work when each row has one recipient (a campaign).
    mails = list(
        Mail.objects.filter(pk__in=ids, lease_owner=owner)
        .select_related("mail_server")
        .prefetch_related(
            Prefetch(
                "recipients",
                queryset=MailRecipient.objects.select_related("partner").order_by("id"),
                to_attr="loaded_recipients",
            )
        )
    )
    # One instance per chatter message, not per row: every row of a campaign shares one message
    # (its body, alias domain and files are loaded once).
    messages = (
        Message.objects.select_related("record_alias_domain")
        .prefetch_related(Prefetch("attachments", to_attr="loaded_attachments"))
        .in_bulk({mail.message_id for mail in mails})
    )
    mails = [mail for mail in mails if mail.message_id in messages]  # else deleted since, with its rows
    for mail in mails:
        mail.message = messages[mail.message_id]
    order = {pk: index for index, pk in enumerate(ids)}
    jobs = [Job(mail=mail, recipients=mail.loaded_recipients) for mail in mails]
    jobs.sort(key=lambda job: order[job.mail.pk])
    for job in jobs:
        if not job.recipients and job.mail.email_to.strip():
            # A row addressed only by raw addresses (Odoo ``email_to``): one delivery per address.
            job.recipients = MailRecipient.objects.bulk_create(
                MailRecipient(mail=job.mail, email=address) for address in _split_raw(job.mail.email_to)
            )
    return jobs


def _split_raw(email_to: str) -> list[str]:
    return [formataddr(name, address) if name else address for name, address in getaddresses([email_to]) if address]


def prepare_jobs(jobs: list[Job]) -> None:
    """Choose server and senders, fix the Message-ID and build the shared part of each message."""
    servers = servers_active()
    domains = list(AliasDomain.objects.order_by("sequence", "id"))
    default_domain = domains[0] if domains else None
    choices: dict[tuple[str, int | None, int | None], ServerChoice | MailDeliveryError] = {}
    signers: dict[str, AliasDomain | None] = {}
    for job in jobs:
        mail = job.mail
        job.alias_domain = mail.message.record_alias_domain or default_domain
        forced: MailServer | None = mail.mail_server
        key = (mail.email_from, job.alias_domain.pk if job.alias_domain else None, forced.pk if forced else None)
        if key not in choices:
            try:
                choices[key] = server_find(
                    mail.email_from, alias_domain=job.alias_domain, servers=servers, forced_server=forced
                )
            except MailFromError as exc:
                # Odoo NO_FOUND_FROM / NO_VALID_FROM: final, a retry cannot invent a sender.
                choices[key] = PermanentDeliveryError(str(exc), failure_type=exc.failure_type)
        chosen = choices[key]
        if isinstance(chosen, MailDeliveryError):
            job.error = chosen
            continue
        job.choice = chosen
        job.message_id = _message_id(mail)
        try:
            job.content = _build(job)
            if chosen.header_from not in signers:  # the same for every row of a campaign
                signers[chosen.header_from] = dkim_signing_domain(chosen.header_from, domains)
            signer = signers[chosen.header_from]
            if signer is not None:
                # Once per row, for all its recipients: the signature covers the shared part.
                job.content = dkim_sign(job.content, signer)
        except Exception as exc:  # a body or attachment Python cannot encode: final, as Odoo
            logger.exception("Cannot build mail %s", mail.pk)
            label = "Invalid text" if isinstance(exc, UnicodeError) else type(exc).__name__
            job.error = PermanentDeliveryError(f"{label}: {exc}", failure_type=FailureType.UNKNOWN)
            continue
    for job in jobs:
        job.targets = [] if job.error else _targets(job)


def _message_id(mail: Mail) -> str:
    """The row's own Message-ID (a campaign mail), else the chatter message's; one is made (and
    kept, so replies route) when missing."""
    if mail.own_message_id:
        return mail.own_message_id
    message = mail.message
    if message.message_id:
        return message.message_id
    message_id = make_message_id(f"mail-{mail.pk}")
    if not Message.objects.filter(pk=message.pk, message_id="").update(message_id=message_id):
        message_id = Message.objects.values_list("message_id", flat=True).get(pk=message.pk) or message_id
    message.message_id = message_id
    return message_id


def _clean_header_value(value: object) -> str:
    return " ".join(str(value).split())


def _build(job: Job) -> bytes:
    """The message without its first lines: identification headers, then the rest, shared by every recipient.

    Per recipient only ``Return-Path`` and ``To`` are prepended, so a row of 50 recipients is
    rendered once. Odoo's order: our headers, then custom headers (which may override them),
    then ``X-Mailcore-Message-Id`` always (Odoo's ``X-Odoo-Message-Id``: it survives providers
    that rewrite Message-ID).
    """
    mail, choice = job.mail, job.choice
    assert choice is not None
    headers = {
        "from": ("From", choice.header_from),
        "reply-to": ("Reply-To", mail.reply_to or choice.header_from),
        "subject": ("Subject", mail.subject),
        "date": ("Date", formatdate(usegmt=True)),
    }
    identification = {"Message-ID": job.message_id, "In-Reply-To": mail.in_reply_to, "References": mail.references}
    custom = mail.headers if isinstance(mail.headers, dict) else {}
    for name, value in custom.items():
        name = str(name).strip()
        if not name or not name.isascii() or ":" in name or " " in name or name.lower() in _PROTECTED_HEADERS:
            logger.warning("Mail %s: ignoring header %r", mail.pk, name)
            continue
        canonical = next((h for h in _ID_HEADERS if h.lower() == name.lower()), None)
        if canonical is not None:
            identification[canonical] = _clean_header_value(value)
            continue
        value = _clean_header_value(value)
        if header_error(name, value) is not None:  # a bad custom header must never stop the queue (Odoo)
            logger.warning("Mail %s: ignoring malformed header %r", mail.pk, name)
            continue
        # Replaces a header of the same name, and goes after the others.
        headers.pop(name.lower(), None)
        headers[name.lower()] = (name, value)
    identification["X-Mailcore-Message-Id"] = job.message_id

    body_html = mail.body_html or mail.message.body or ""
    draft = Draft(
        headers=list(headers.values()),
        text=html_to_plaintext(body_html) + "\n",
        html=body_html,
        attachments=[
            Attachment(attachment.name, bytes(attachment.datas), attachment.mimetype)
            for attachment in _attachments(mail.message)
        ],
    )
    head = b"".join(_id_line(name, value) for name, value in identification.items() if value)
    return head + write_message(draft)


def _attachments(message: Message) -> list[ChatterAttachment]:
    """The message's files: loaded with the claimed rows (:func:`load_jobs`), else read now."""
    loaded: list[ChatterAttachment] | None = getattr(message, "loaded_attachments", None)
    return loaded if loaded is not None else list(message.attachments.all())


def _id_line(name: str, value: str) -> bytes:
    value = _clean_header_value(value)
    line = f"{name}: {value}"
    if len(line) > 900:
        # Only over the 998-octet limit fold, and only between the ids (valid FWS, RFC 5322 §3.6.4).
        line = f"{name}: " + "\r\n ".join(value.split())
    return line.encode("ascii", "ignore") + b"\r\n"


def _targets(job: Job) -> list[Target]:
    """Pending recipients that can be sent to; the others get their final outcome now."""
    targets: list[Target] = []
    for recipient in job.recipients:
        if recipient.state != RecipientState.PENDING:
            continue
        target = _target(recipient)
        if isinstance(target, Outcome):
            job.outcomes.append(target)
        else:
            targets.append(target)
    return targets


def _target(recipient: MailRecipient) -> Target | Outcome:
    """Where one recipient's message goes, or the outcome that stops it (blacklisted, no address)."""
    partner = recipient.partner
    if partner is not None:
        raw, name, address = partner.email, partner.name, partner.email_normalized or email_normalize(partner.email)
        if partner.is_blacklisted:
            return Outcome(recipient, Kind.CANCEL, FailureType.MAIL_BL, "Blacklisted Address", address=raw)
    else:
        raw = recipient.email
        pairs = [pair for pair in getaddresses([raw]) if pair[1]]
        name = pairs[0][0] if pairs else ""
        address = email_normalize(raw)
    if not raw.strip():
        return Outcome(recipient, Kind.FAILED, FailureType.MAIL_EMAIL_MISSING, NO_VALID_RECIPIENT)
    if not address or not address.isascii():
        # Plain ASCII only: we do not negotiate SMTPUTF8 (Odoo's NO_VALID_FROM rule, for To).
        return Outcome(
            recipient,
            Kind.FAILED,
            FailureType.MAIL_EMAIL_INVALID,
            f"{NO_VALID_RECIPIENT}\nInvalid address: {raw}",
            address=raw,
        )
    return Target(recipient=recipient, address=address, to_header=formataddr(name, address))


def bounce_envelope(job: Job, recipient: MailRecipient) -> str:
    """``bounce+<signed recipient id>@<alias domain>`` — names the delivery exactly.

    As Odoo does, only when the server's from filter allows the bounce address; otherwise
    the server's own sender address, or the server would refuse the mail.
    """
    choice, domain = job.choice, job.alias_domain
    assert choice is not None
    if domain is not None and choice.allows(domain.bounce_email):
        return bounce_address(alias_domain=domain, recipient_id=recipient.pk)
    return choice.smtp_from


def recipient_lines(target: Target, envelope_from: str) -> bytes:
    """The first lines of one recipient's message: its own ``Return-Path`` and ``To``.

    The full message handed to the server is these lines followed by ``job.content``.
    """
    to = target.to_header
    if to.isascii() and len(to) < 900 and "\r" not in to and "\n" not in to:
        to_line = f"To: {to}\r\n"  # already a valid header (formataddr quotes what needs it)
    else:  # non-ASCII names become RFC 2047 encoded words
        to_line = _SMTP_POLICY.header_factory("To", to).fold(policy=_SMTP_POLICY)
    return f"Return-Path: <{envelope_from}>\r\n".encode() + to_line.encode("ascii")


def render_unsent(mail: Mail, recipient: MailRecipient | None = None) -> bytes:
    """The message the sender would hand to the SMTP server now for ``recipient`` (else the row's first).

    For Download .eml of a delivery not made yet. Writes nothing, except the chatter message's
    Message-ID when it has none (the sender keeps it too, so replies route). Raises
    :class:`~mailqueue.exceptions.EmlNotAvailable` with the sender's own reason when it could not be sent.
    """
    if recipient is None:
        recipient = mail.recipients.select_related("partner").order_by("id").first()
    if recipient is None:
        raw = _split_raw(mail.email_to)
        # A row addressed by raw addresses gets its recipients when first sent; not made here, so
        # its Return-Path shows the server's sender: no bounce token can name a delivery not made.
        recipient = MailRecipient(mail=mail, email=raw[0]) if raw else None
    if recipient is None:
        raise EmlNotAvailable(NO_VALID_RECIPIENT)
    job = Job(mail=mail, recipients=[recipient])
    prepare_jobs([job])
    if job.error is not None:
        raise EmlNotAvailable(job.error.reason)
    target = _target(recipient)
    if isinstance(target, Outcome):
        raise EmlNotAvailable(target.reason)
    assert job.choice is not None
    envelope_from = bounce_envelope(job, recipient) if recipient.pk is not None else job.choice.smtp_from
    return recipient_lines(target, envelope_from) + job.content


def recipient_label(recipient: MailRecipient) -> str:
    """The recipient's address as written, for logs and the delivery log."""
    partner = recipient.partner
    if partner is not None:
        return partner.email_normalized or partner.email or partner.name
    return recipient.email
