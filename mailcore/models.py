"""Contacts, outgoing mail servers, alias domains, aliases and the daily quota counter.

Field and state values keep Odoo's names (``res.partner``, ``ir.mail_server``,
``mail.alias.domain``, ``mail.alias``) so an Odoo integrator finds what they know.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from mailcore import conf
from mailcore.addresses import email_normalize


class NotificationType(models.TextChoices):
    """How a user is notified (Odoo ``res.users.notification_type``)."""

    EMAIL = "email", _("Handle by e-mails")
    INBOX = "inbox", _("Handle in the app")


class Partner(models.Model):
    """A contact (Odoo ``res.partner``): anyone who can follow, author or receive a message."""

    name = models.CharField(_("name"), max_length=255)
    email = models.CharField(
        _("e-mail"), max_length=255, blank=True, help_text=_("May hold a display name: 'Name <a@b.c>'.")
    )
    email_normalized = models.CharField(max_length=255, blank=True, db_index=True, editable=False)
    # Odoo's ``message_bounce``: hard bounces counted against this address.
    message_bounce = models.PositiveIntegerField(default=0)
    is_blacklisted = models.BooleanField(
        _("blacklisted"), default=False, help_text=_("Never send e-mail to this address.")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="partner"
    )
    # Stored on the contact of a user (Odoo keeps it on res.users); meaningless without a user.
    notification_type = models.CharField(
        _("notification"), max_length=16, choices=NotificationType.choices, default=NotificationType.EMAIL
    )
    # Odoo's ``lang``: the language of the mail this contact receives (notification layout, campaigns).
    lang = models.CharField(
        _("language"), max_length=16, choices=conf.language_choices, default=conf.default_language
    )
    # Odoo's ``tz``: dates and times shown to this contact's user; empty means the server's (UTC).
    tz = models.CharField(_("time zone"), max_length=64, blank=True, default="")
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: object, **kwargs: object) -> None:
        self.email_normalized = email_normalize(self.email) or ""
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @property
    def email_formatted(self) -> str:
        from mailcore.addresses import formataddr

        return formataddr(self.name, self.email_normalized) if self.email_normalized else ""

    @property
    def notifies_in_app(self) -> bool:
        return self.user_id is not None and self.notification_type == NotificationType.INBOX


class SmtpEncryption(models.TextChoices):
    # A context: django.contrib.admin's catalogue, loaded before ours, keeps "None" in English in Japanese.
    NONE = "none", pgettext_lazy("connection encryption", "None")
    STARTTLS = "starttls", _("TLS (STARTTLS)")
    SSL = "ssl", _("SSL/TLS")


class MailServer(models.Model):
    """An outgoing mail server (Odoo ``ir.mail_server``). Lower ``sequence`` wins."""

    name = models.CharField(_("Name"), max_length=128)
    smtp_host = models.CharField(_("SMTP server"), max_length=255)
    smtp_port = models.PositiveIntegerField(_("SMTP port"), default=25)
    smtp_encryption = models.CharField(
        _("Connection encryption"), max_length=16, choices=SmtpEncryption.choices, default=SmtpEncryption.NONE
    )
    smtp_user = models.CharField(_("Username"), max_length=255, blank=True)
    smtp_pass = models.CharField(_("Password"), max_length=255, blank=True)
    from_filter = models.CharField(
        _("FROM filtering"),
        max_length=512,
        blank=True,
        help_text=_("Comma-separated addresses and/or domains this server may send for; empty matches all."),
    )
    sequence = models.PositiveIntegerField(_("Priority"), default=10)
    smtp_timeout = models.PositiveIntegerField(_("Timeout (seconds)"), default=60)
    active = models.BooleanField(_("Active"), default=True)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return self.name


class AliasDomain(models.Model):
    """An alias domain (Odoo ``mail.alias.domain``): bounce, catchall and default From live here."""

    name = models.CharField(_("Domain"), max_length=255, unique=True)
    bounce_alias = models.CharField(_("Bounce alias"), max_length=64, default="bounce")
    catchall_alias = models.CharField(_("Catchall alias"), max_length=64, default="catchall")
    default_from = models.CharField(
        _("Default From"), max_length=255, default="notifications", help_text=_("A local part, or a full address.")
    )
    sequence = models.PositiveIntegerField(_("Sequence"), default=10)
    # DKIM (RFC 6376): the selector the public key is published under, and the private key (PEM)
    # mail whose From is in this domain is signed with. Empty: the domain's mail is not signed.
    dkim_selector = models.CharField(max_length=63, blank=True)
    dkim_private_key = models.TextField(blank=True, editable=False)

    class Meta:
        ordering = ["sequence", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def bounce_email(self) -> str:
        return f"{self.bounce_alias}@{self.name}"

    @property
    def catchall_email(self) -> str:
        return f"{self.catchall_alias}@{self.name}"

    @property
    def default_from_email(self) -> str:
        return self.default_from if "@" in self.default_from else f"{self.default_from}@{self.name}"


class AliasContact(models.TextChoices):
    """Who may write to an alias (Odoo ``alias_contact``)."""

    EVERYONE = "everyone", _("Everyone")
    PARTNERS = "partners", _("Authenticated contacts")
    FOLLOWERS = "followers", _("Followers only")


class Alias(models.Model):
    """An e-mail alias (Odoo ``mail.alias``): mail to it creates or updates records of a model."""

    alias_name = models.CharField(_("Alias name"), max_length=255, help_text=_("The local part, e.g. 'sales'."))
    alias_domain = models.ForeignKey(
        AliasDomain, on_delete=models.CASCADE, related_name="aliases", verbose_name=_("Domain")
    )
    alias_model = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, related_name="+", verbose_name=_("Creates records of")
    )
    alias_defaults = models.JSONField(
        _("Default values"), default=dict, blank=True, help_text=_("Field values for new records.")
    )
    alias_force_thread_id = models.PositiveBigIntegerField(
        _("Post on record id"), null=True, blank=True, help_text=_("Post on this record instead of creating one.")
    )
    alias_contact = models.CharField(
        _("Accept e-mails from"), max_length=16, choices=AliasContact.choices, default=AliasContact.EVERYONE
    )
    alias_bounced_content = models.TextField(
        _("Custom rejection message"),
        blank=True,
        help_text=_("Custom text sent back when a sender is refused by the contact policy."),
    )
    # The record that owns the alias (for "followers only": its followers may write).
    alias_parent_model = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    alias_parent_thread_id = models.PositiveBigIntegerField(null=True, blank=True)
    active = models.BooleanField(_("Active"), default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["alias_name", "alias_domain"], name="alias_unique_name_per_domain")
        ]
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")

    def __str__(self) -> str:
        return self.display_email

    @property
    def display_email(self) -> str:
        return f"{self.alias_name}@{self.alias_domain.name}"


class QuotaDay(models.Model):
    """Mails that left through the built-in server in one quota day (a window ending at reset time).

    Incremented only by a conditional ``UPDATE … SET count = count + n WHERE count + n <= limit``
    so concurrent workers can never exceed the limit.
    """

    day = models.DateField(unique=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.count}"
