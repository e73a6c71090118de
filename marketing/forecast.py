"""How a campaign will go out under the daily limit: honest before sending, not stuck after.

Campaign mail leaving through the built-in server counts against its daily limit like any other
mail (person-to-person mail included, which is sent first). A server of one's own — the
campaign's dedicated server, or any server chosen for its From — has no such limit.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from django.utils import timezone

from mailcore.exceptions import MailFromError
from mailcore.models import AliasDomain
from mailcore.quota import quota_status, quota_window
from mailcore.servers import server_find
from marketing.models import Mailing


@dataclass(frozen=True)
class SendingForecast:
    """``recipients`` to mail; how many go out in the current quota day and when the last one does."""

    recipients: int
    limited: bool
    server: str
    today: int
    limit: int | None = None
    used: int = 0
    reset_at: dt.datetime | None = None
    finish_day: dt.date | None = None
    problem: str = ""

    @property
    def days(self) -> int:
        """Quota days the campaign needs, the current one included."""
        if not self.limited or self.recipients <= self.today or not self.limit:
            return 1
        return 1 + math.ceil((self.recipients - self.today) / self.limit)


def sending_forecast(mailing: Mailing, recipients: int, *, now: dt.datetime | None = None) -> SendingForecast:
    """The forecast for ``recipients`` mails of this campaign, from the server its From selects."""
    now = now or timezone.now()
    alias_domain = AliasDomain.objects.order_by("sequence", "id").first()
    try:
        choice = server_find(mailing.email_from, alias_domain=alias_domain, forced_server=mailing.mail_server)
    except MailFromError as exc:
        return SendingForecast(recipients, limited=False, server="", today=0, problem=str(exc))
    if choice.server is not None:
        return SendingForecast(recipients, limited=False, server=choice.server.name, today=recipients)
    status = quota_status(now)
    if status.limit is None:
        return SendingForecast(recipients, limited=False, server="the built-in server", today=recipients)
    today = min(recipients, status.remaining or 0)
    forecast = SendingForecast(
        recipients,
        limited=True,
        server="the built-in server",
        today=today,
        limit=status.limit,
        used=status.used,
        reset_at=status.reset_at,
    )
    day, _reset_at = quota_window(now)
    return SendingForecast(**{**forecast.__dict__, "finish_day": day + dt.timedelta(days=forecast.days - 1)})
