"""Settings of the inbound gateway and bounce handling, with their defaults.

Read settings only through these getters; environment variables are read in
``config/settings/`` alone.
"""

from __future__ import annotations

from django.conf import settings


def _int(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None or value == "":
        return default
    return int(value)


def _str(name: str, default: str) -> str:
    value = getattr(settings, name, None)
    return default if value is None else str(value)


# --- the SMTP listener --------------------------------------------------------------------------
def gateway_host() -> str:
    return _str("MAILCORE_GATEWAY_HOST", "127.0.0.1")


def gateway_port() -> int:
    return _int("MAILCORE_GATEWAY_PORT", 8025)


def gateway_processes() -> int:
    """Gateway processes sharing the port (``run_gateway --processes``); one per core is right."""
    return max(_int("MAILCORE_GATEWAY_PROCESSES", 1), 1)


def gateway_hostname() -> str:
    """The name in the 220 greeting and the EHLO answer; the default alias domain by default."""
    from mailcore import conf as mailcore_conf

    return _str("MAILCORE_GATEWAY_HOSTNAME", "") or mailcore_conf.default_alias_domain()


def max_message_size() -> int:
    """Bytes; a bigger message gets ``552 5.3.4`` (advertised in EHLO as SIZE)."""
    return _int("MAILCORE_GATEWAY_MAX_MESSAGE_SIZE", 25 * 1024 * 1024)


def max_recipients() -> int:
    """RCPT commands accepted per message; the next gets ``452 4.5.3`` (RFC 5321 §4.5.3.1.8)."""
    return _int("MAILCORE_GATEWAY_MAX_RECIPIENTS", 50)


def max_line_length() -> int:
    """Longest line accepted in DATA (RFC 5322 says 998, real mail has far longer HTML lines)."""
    return max(_int("MAILCORE_GATEWAY_MAX_LINE_LENGTH", 100_000), 1001)


def idle_timeout() -> int:
    """Seconds a client may stay silent before ``421 4.4.2`` (RFC 5321 §4.5.3.2.7: ≥ 5 minutes)."""
    return _int("MAILCORE_GATEWAY_IDLE_TIMEOUT", 300)


def max_connections() -> int:
    """Concurrent SMTP sessions; one more is greeted with ``421 4.3.2`` and closed."""
    return _int("MAILCORE_GATEWAY_MAX_CONNECTIONS", 100)


def max_connections_per_address() -> int:
    """Concurrent SMTP sessions from one client address; one more gets ``421 4.7.0`` and is closed,
    so that one client cannot take every connection (Postfix ``smtpd_client_connection_count_limit``)."""
    return _int("MAILCORE_GATEWAY_MAX_CONNECTIONS_PER_ADDRESS", 10)


def session_timeout() -> int:
    """Seconds a session may last; the next command after that gets ``421 4.4.2`` and the
    connection is closed. A sender with more mail connects again (Postfix's own client reuses a
    connection for 300 seconds at most)."""
    return _int("MAILCORE_GATEWAY_SESSION_TIMEOUT", 600)


def junk_command_limit() -> int:
    """NOOP, RSET, VRFY, HELP and unknown commands a session may send between two messages; one
    more gets ``421 4.7.0`` and the connection is closed (Postfix ``smtpd_junk_command_limit``)."""
    return _int("MAILCORE_GATEWAY_JUNK_COMMAND_LIMIT", 100)


def refusals_per_minute() -> int:
    """Refusals recorded one by one per client address and minute in the inbound log; further
    ones in that minute are only counted on the last row (a flood cannot fill the database)."""
    return max(_int("MAILCORE_GATEWAY_REFUSALS_PER_MINUTE", 20), 1)


def tls_cert_file() -> str:
    """PEM certificate for STARTTLS; STARTTLS is offered only when both files are set."""
    return _str("MAILCORE_GATEWAY_TLS_CERT", "")


def tls_key_file() -> str:
    return _str("MAILCORE_GATEWAY_TLS_KEY", "")


def gateway_cache_seconds() -> int:
    """How long the gateway trusts its in-process copy of aliases and alias domains."""
    return _int("MAILCORE_GATEWAY_CACHE_SECONDS", 10)


# --- routing -----------------------------------------------------------------------------------
def loop_threshold() -> int:
    """Odoo ``mail.gateway.loop.threshold``: mails from one sender to one target in the window."""
    return _int("MAILCORE_GATEWAY_LOOP_THRESHOLD", 20)


def loop_minutes() -> int:
    """Odoo ``mail.gateway.loop.minutes``."""
    return _int("MAILCORE_GATEWAY_LOOP_MINUTES", 120)


def loop_allowed() -> set[str]:
    """Odoo ``mail.gateway.allowed``: senders the loop guard never stops (normalised addresses)."""
    return {str(a).strip().lower() for a in getattr(settings, "MAILCORE_GATEWAY_LOOP_ALLOWED", ()) if a}


def contact_email() -> str:
    """The address rejection texts point senders to ("contact us at …"); empty: the domain's From."""
    return _str("MAILCORE_CONTACT_EMAIL", "")


# --- processing and retention --------------------------------------------------------------------
def processing_lease_seconds() -> int:
    """A row being processed belongs to its worker this long; then the sweep may take it over."""
    return _int("MAILCORE_INBOUND_LEASE_SECONDS", 300)


def sweep_grace_seconds() -> int:
    """The sweep leaves fresh ``received`` rows to their own task for this long."""
    return _int("MAILCORE_INBOUND_SWEEP_GRACE_SECONDS", 30)


def sweep_interval_seconds() -> int:
    return _int("MAILCORE_INBOUND_SWEEP_INTERVAL_SECONDS", 60)


def sweep_time_budget_seconds() -> int:
    return _int("MAILCORE_INBOUND_SWEEP_TIME_BUDGET_SECONDS", 50)


def max_processing_attempts() -> int:
    """A row whose processing failed this many times stays in ``error`` for a person to look at."""
    return _int("MAILCORE_INBOUND_MAX_ATTEMPTS", 5)


def retention_days() -> int:
    """Processed and rejected inbound mail older than this is deleted by the vacuum."""
    return _int("MAILCORE_INBOUND_RETENTION_DAYS", 30)


# --- bounces -----------------------------------------------------------------------------------
def blacklist_bounce_limit() -> int:
    """Odoo ``BLACKLIST_MAX_BOUNCED_LIMIT``: hard bounces that blacklist an address."""
    return _int("MAILCORE_BLACKLIST_BOUNCE_LIMIT", 5)


def blacklist_min_spread_days() -> int:
    """The first and last of those bounces must be more than this many days apart."""
    return _int("MAILCORE_BLACKLIST_MIN_SPREAD_DAYS", 7)


def blacklist_window_weeks() -> int:
    """Only bounces of this many past weeks count."""
    return _int("MAILCORE_BLACKLIST_WINDOW_WEEKS", 13)
