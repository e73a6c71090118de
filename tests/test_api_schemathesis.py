"""Property-based fuzzing of the JSON API from its own OpenAPI schema (schemathesis): whatever a
client sends — inside the schema or outside it, NUL characters and huge numbers included — the
answer is never a server error.

The requests go straight into the WSGI application (no network), authenticated with HTTP Basic
as a staff user, inside the test's transaction. The number of examples per operation is bounded
so the whole run stays well under a minute; run it on PostgreSQL as well, where text with a NUL
character is refused by the database.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import werkzeug
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from demo.models import Lead, Ticket
from mailcore.testing.smtp import SmtpSink
from tests.api_helpers import make_partner, make_user

# The examples in the schema and random fuzzing, inside and outside the schema; the coverage phase
# (every boundary of every field) would take minutes on this machine.
CONFIG = SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}})
AUTHORIZATION = "Basic " + base64.b64encode(b"fuzzer:pw").decode()


@pytest.fixture
def api_schema(db: None, settings: Any, smtp_sink: SmtpSink) -> Iterator[Any]:
    # The request-rate throttle has tests of its own; here it would only turn requests into 429s.
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"user": None}}
    make_user("fuzzer", staff=True)
    bob = make_partner("Bob Customer")
    lead = Lead.objects.create(name="Chairs")
    lead.message_subscribe([bob])
    Ticket.objects.create(name="Broken chair", customer=bob)

    from config.wsgi import application

    # As Django's test client does: the requests run inside the test's transaction, so the
    # connection must not be closed at the start and end of each one.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi(
            "/api/schema/", application, config=CONFIG, headers={"Authorization": AUTHORIZATION}
        )
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


class ClosingClient(werkzeug.Client):
    """werkzeug's test client, closing each request's body stream once the application is done
    (it spools large multipart bodies to temporary files and leaves them open)."""

    def run_wsgi_app(self, environ: dict[str, Any], buffered: bool = False) -> Any:
        try:
            return super().run_wsgi_app(environ, buffered)
        finally:
            environ["wsgi.input"].close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_the_api_never_answers_a_server_error(case: schemathesis.Case) -> None:
    response = case.call(headers={"Authorization": AUTHORIZATION}, session=ClosingClient(case.operation.app))
    case.validate_response(response, checks=[not_a_server_error])

