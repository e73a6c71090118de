"""DNS lookups for the diagnostics: a resolver with short timeouts, answers as text."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
from django.utils.translation import gettext

from mailcore import conf
from mailcore.diagnostics.base import Status, describe_error


class DnsLookupError(Exception):
    """A lookup that could not be answered (timeout, SERVFAIL, no resolver): "could not check"."""


def make_resolver() -> dns.resolver.Resolver:
    """A resolver with short timeouts, on ``MAILCORE_DNS_NAMESERVER`` when set, else the system's."""
    nameserver = conf.dns_nameserver()
    if nameserver:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.port = conf.dns_port()
        resolver.nameservers = [nameserver]
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = conf.dns_timeout()
    resolver.lifetime = conf.dns_timeout()
    return resolver


def query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[str]:
    """Answers as text; [] for NXDOMAIN / no answer; :class:`DnsLookupError` when DNS failed."""
    try:
        answer = resolver.resolve(name, rdtype, raise_on_no_answer=False, search=False)
    except dns.resolver.NXDOMAIN:
        return []
    except dns.resolver.LifetimeTimeout as exc:
        raise DnsLookupError(
            gettext("no answer from the DNS server for %(query)s (timeout)") % {"query": f"{name} {rdtype}"}
        ) from exc
    except dns.resolver.NoNameservers as exc:
        raise DnsLookupError(
            gettext("the DNS server failed to answer %(query)s (SERVFAIL)") % {"query": f"{name} {rdtype}"}
        ) from exc
    except dns.exception.DNSException as exc:
        raise DnsLookupError(f"{name} {rdtype}: {describe_error(exc)}") from exc
    if answer.rrset is None:
        return []
    if rdtype == "TXT":
        # A TXT record may be split into several strings: they are one text (RFC 7208 §3.3).
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset]  # type: ignore[attr-defined]
    return [r.to_text() for r in answer.rrset]


def txt_records(resolver: dns.resolver.Resolver, name: str, prefix: str) -> list[str]:
    return [t for t in query(resolver, name, "TXT") if t.strip().lower().startswith(prefix.lower())]


@dataclass(frozen=True)
class DnsVerdict:
    """One DNS check of one domain: the name asked, the record found, a verdict and its status."""

    kind: str  # "SPF" | "DKIM" | "DMARC"
    name: str
    status: Status
    verdict: str
    record: str = ""
    details: tuple[str, ...] = ()
