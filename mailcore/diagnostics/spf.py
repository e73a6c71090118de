"""SPF of the alias domains for the diagnostics: pyspf evaluates the record (RFC 7208
``check_host``, macros and lookup limits included); this module only explains the result.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import dns.resolver
import spf
from django.utils.translation import gettext

from mailcore.diagnostics.base import Status, could_not_check
from mailcore.diagnostics.lookup import DnsLookupError, DnsVerdict, make_resolver, query, txt_records


def _spf_dns_lookup(name: str, qtype: str, strict: bool = True, timeout: float = 20) -> list[tuple[Any, Any]]:
    """pyspf's DNS back end, answered by the diagnostics' resolver (``MAILCORE_DNS_NAMESERVER``).

    pyspf picks its back end through the module attribute ``spf.DNSLookup`` (that is how it
    chooses between pydns and dnspython); answers use its format: ((name, type), value).
    """
    try:
        values = query(make_resolver(), name, qtype)
    except DnsLookupError as exc:
        raise spf.TempError(str(exc)) from exc
    answers: list[tuple[Any, Any]] = []
    for value in values:
        if qtype in {"TXT", "SPF"}:
            answers.append(((name, qtype), [value.encode()]))
        elif qtype == "MX":
            preference, _, exchange = value.partition(" ")
            answers.append(((name, qtype), (int(preference), exchange.rstrip("."))))
        elif qtype == "PTR":
            answers.append(((name, qtype), value.rstrip(".")))
        else:
            answers.append(((name, qtype), value))
    return answers


spf.DNSLookup = _spf_dns_lookup


def spf_record(resolver: dns.resolver.Resolver, domain: str) -> list[str]:
    """The ``v=spf1`` TXT records of ``domain`` (more than one is an error, RFC 7208 §4.5)."""
    return [r for r in txt_records(resolver, domain, "v=spf1") if r.strip().lower().split()[0] == "v=spf1"]


def spf_check_host(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str) -> tuple[str, str]:
    """RFC 7208 ``check_host()`` by pyspf: (result, explanation); result is pass / fail /
    softfail / neutral / none / permerror / temperror."""
    result, _code, explanation = spf.query(i=str(ip), s=f"postmaster@{domain}", h=domain, timeout=20).check()
    # pyspf prefixes its reasons with the result's long name, which the verdict already says.
    for prefix in ("SPF Permanent Error: ", "SPF Temporary Error: "):
        explanation = str(explanation).removeprefix(prefix)
    return str(result), str(explanation)


# Addresses that never reach a receiver as the sending IP: loopback, link-local, RFC 1918 and
# unique-local ranges (``is_private`` would also flag the documentation ranges).
_LOCAL_NETWORKS = [
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
]


def _is_local(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if address.is_loopback or address.is_link_local or address.is_unspecified:
        return True
    return any(address.version == n.version and address in n for n in _LOCAL_NETWORKS)


def check_spf(resolver: dns.resolver.Resolver, domain: str, host: str) -> DnsVerdict:
    """SPF of ``domain``: present, single, and authorising ``host``'s addresses."""
    try:
        records = spf_record(resolver, domain)
    except DnsLookupError as exc:
        return DnsVerdict("SPF", domain, Status.UNKNOWN, could_not_check(str(exc)))
    if not records:
        return DnsVerdict(
            "SPF",
            domain,
            Status.ERROR,
            gettext("No SPF record: receivers cannot tell which servers may send for %(domain)s.") % {"domain": domain},
        )
    if len(records) > 1:
        return DnsVerdict(
            "SPF",
            domain,
            Status.ERROR,
            gettext("%(count)d SPF records: exactly one is allowed, receivers treat this as an error (permerror).")
            % {"count": len(records)},
            record=" | ".join(records),
        )
    record = records[0]
    details: list[str] = []
    try:
        ip = ipaddress.ip_address(host)
        addresses = [ip]
    except ValueError:
        try:
            addresses = [ipaddress.ip_address(a) for a in query(resolver, host, "A") + query(resolver, host, "AAAA")]
        except DnsLookupError as exc:
            return DnsVerdict("SPF", domain, Status.UNKNOWN, could_not_check(str(exc)), record=record)
        if not addresses:
            return DnsVerdict(
                "SPF",
                domain,
                Status.UNKNOWN,
                could_not_check(gettext("the sending server %(host)s has no address in DNS.") % {"host": host}),
                record=record,
            )
    if all(_is_local(a) for a in addresses):
        return DnsVerdict(
            "SPF",
            domain,
            Status.UNKNOWN,
            could_not_check(
                gettext(
                    "the sending server %(host)s is a local address; receivers check the public address your "
                    "relay sends from."
                )
                % {"host": host}
            ),
            record=record,
        )
    results: dict[str, str] = {}
    for address in addresses:
        result, explanation = spf_check_host(address, domain)
        if result == "temperror":
            return DnsVerdict("SPF", domain, Status.UNKNOWN, could_not_check(explanation), record=record)
        results[str(address)] = result
        if result == "permerror":
            details.append(f"{address}: permerror: {explanation}")
    includes = [term.partition(":")[2] for term in record.split() if term.lstrip("+-~?").lower().startswith("include:")]
    if includes:
        details.append(gettext("Includes: %(domains)s") % {"domains": ", ".join(includes)})
    details.extend(f"{address}: {result}" for address, result in results.items())
    outcome = set(results.values())
    if "+all" in record.lower().split() or record.lower().split()[-1] == "all":
        return DnsVerdict(
            "SPF",
            domain,
            Status.WARNING,
            gettext("The record ends in +all: it lets any server on the internet send as this domain."),
            record=record,
            details=tuple(details),
        )
    if outcome == {"pass"}:
        status, verdict = Status.OK, gettext("Authorises the sending server %(host)s.") % {"host": host}
    elif "permerror" in outcome:
        status, verdict = Status.ERROR, gettext("The record is invalid (permerror): receivers ignore it.")
    elif "fail" in outcome:
        status = Status.ERROR
        verdict = gettext("Does not authorise the sending server %(host)s (fail): its mail is refused.") % {
            "host": host
        }
    else:
        worst_result = "softfail" if "softfail" in outcome else "neutral"
        status = Status.WARNING
        verdict = gettext(
            "Does not authorise the sending server %(host)s (%(result)s): its mail is likely marked as spam."
        ) % {"host": host, "result": worst_result}
    return DnsVerdict("SPF", domain, status, verdict, record=record, details=tuple(details))
