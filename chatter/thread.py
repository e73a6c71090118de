"""The thread mixin (Odoo ``mail.thread``): inherit it to give a model a chatter.

    class Lead(MailThread):
        mail_tracked_fields = ("stage", "expected_revenue")   # Odoo's tracking=True

        def _track_subtype(self, changed: set[str]) -> str | None:
            return "demo.mt_lead_stage" if "stage" in changed else None

``message_post``, ``message_subscribe`` and ``message_unsubscribe`` keep Odoo's names. Saving a
record whose tracked fields changed logs a message with tracking values (posted with the subtype
``_track_subtype`` returns, so followers of that subtype are notified; otherwise a silent note).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

if TYPE_CHECKING:
    from chatter.models import Follower, Message
    from mailcore.models import Partner


class MailThread(models.Model):
    """Abstract base for every record with a chatter."""

    mail_tracked_fields: ClassVar[tuple[str, ...]] = ()
    # Log "<Model> created" when a record is created (Odoo, unless ``mail_create_nolog``).
    mail_log_creation: ClassVar[bool] = True
    # The field holding the record's own contact (Odoo ``_mail_get_partner_fields``): whom a
    # campaign over these records writes to. None: the records have no contact of their own.
    mail_partner_field: ClassVar[str | None] = None

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        from chatter import services

        creating = self._state.adding
        initial: dict[str, Any] = getattr(self, "_mail_tracking_initial", {})
        with transaction.atomic():
            super().save(*args, **kwargs)
            current = self._mail_tracking_snapshot()
            if creating:
                services.thread_log_creation(record=self)
            else:
                changed = {name for name, value in current.items() if name in initial and initial[name] != value}
                if changed:
                    services.thread_track_changes(record=self, initial=initial, changed=changed)
            self._mail_tracking_initial = current

    # --- tracking -----------------------------------------------------------------------
    @classmethod
    def from_db(cls, db: str | None, field_names: Collection[str], values: Collection[Any]) -> MailThread:
        instance = super().from_db(db, field_names, values)
        instance._mail_tracking_initial = instance._mail_tracking_snapshot()
        return instance

    def _mail_tracking_snapshot(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = {}
        deferred = self.get_deferred_fields()
        for name in self.mail_tracked_fields:
            field = self._meta.get_field(name)
            if name in deferred or getattr(field, "attname", name) in deferred:
                continue
            snapshot[name] = getattr(self, field.attname)  # type: ignore[union-attr]
        return snapshot

    def _track_subtype(self, changed: set[str]) -> str | None:
        """The subtype code to post tracking with (followers are notified), or None for a log."""
        return None

    # --- chatter API (Odoo names) ---------------------------------------------------------
    def message_post(self, **kwargs: Any) -> Message:
        """Odoo ``message_post``: see :func:`chatter.services.message_post`."""
        from chatter import services

        return services.message_post(record=self, **kwargs)

    def message_subscribe(
        self, partners: Iterable[Partner], subtype_codes: Iterable[str] | None = None
    ) -> list[Follower]:
        """Odoo ``message_subscribe``: see :func:`chatter.services.message_subscribe`."""
        from chatter import services

        return services.message_subscribe(record=self, partners=partners, subtype_codes=subtype_codes)

    def message_unsubscribe(self, partners: Iterable[Partner]) -> int:
        """Odoo ``message_unsubscribe``."""
        from chatter import services

        return services.message_unsubscribe(record=self, partners=partners)

    @property
    def message_ids(self) -> models.QuerySet[Message]:
        from chatter.models import Message

        return Message.objects.filter(model=ContentType.objects.get_for_model(self), res_id=self.pk)

    @property
    def message_follower_ids(self) -> models.QuerySet[Follower]:
        from chatter.models import Follower

        return Follower.objects.filter(model=ContentType.objects.get_for_model(self), res_id=self.pk)

    @property
    def display_name(self) -> str:
        return str(self)
