"""SPF (RFC 7208 ``check_host``, the parts a diagnosis needs) for the diagnostics."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

import dns.resolver

from mailcore.diagnostics.base import Status
from mailcore.diagnostics.lookup import DnsLookupError, DnsVerdict, query, txt_records

SPF_LOOKUP_LIMIT = 10  # RFC 7208 §4.6.4
_QUALIFIERS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class _SpfPermError(Exception):
    pass


@dataclass
class _SpfContext:
    resolver: dns.resolver.Resolver
    lookups: int = 0
    includes: list[str] = field(default_factory=list)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > SPF_LOOKUP_LIMIT:
            raise _SpfPermError(f"more than {SPF_LOOKUP_LIMIT} DNS lookups (RFC 7208 §4.6.4)")


def _split_cidr(spec: str, default_domain: str) -> tuple[str, int | None, int | None]:
    """``a:host/24//64`` → (host, 24, 64); missing parts default to the domain and full length."""
    domain, v4, v6 = spec, None, None
    if "//" in domain:
        domain, _, v6_text = domain.partition("//")
        v6 = int(v6_text)
    if "/" in domain:
        domain, _, v4_text = domain.partition("/")
        v4 = int(v4_text)
    return (domain or default_domain), v4, v6


def _host_addresses(ctx: _SpfContext, host: str) -> list[str]:
    return query(ctx.resolver, host, "A") + query(ctx.resolver, host, "AAAA")


def _ip_in(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, addresses: list[str], v4: int | None, v6: int | None
) -> bool:
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue
        if address.version != ip.version:
            continue
        prefix = (v4 if ip.version == 4 else v6) or address.max_prefixlen
        if ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False):
            return True
    return False


def spf_record(resolver: dns.resolver.Resolver, domain: str) -> list[str]:
    """The ``v=spf1`` TXT records of ``domain`` (more than one is an error, RFC 7208 §4.5)."""
    return [r for r in txt_records(resolver, domain, "v=spf1") if r.strip().lower().split()[0] == "v=spf1"]


def spf_check_host(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, domain: str, ctx: _SpfContext, *, depth: int = 0
) -> str:
    """RFC 7208 ``check_host()``: pass / fail / softfail / neutral / none / permerror.

    Macros and ``ptr`` (deprecated) are not evaluated: a record needing them gives ``permerror``
    with the reason, so nobody reads an unevaluated record as fine. DNS failures raise
    :class:`DnsLookupError` (temperror).
    """
    if depth > SPF_LOOKUP_LIMIT:
        raise _SpfPermError("include/redirect loop")
    records = spf_record(ctx.resolver, domain)
    if not records:
        return "none"
    if len(records) > 1:
        raise _SpfPermError(f"{domain} publishes {len(records)} SPF records; exactly one is allowed")
    redirect = ""
    for term in records[0].split()[1:]:
        if "%" in term:
            raise _SpfPermError(f"macros are not evaluated here ({term})")
        name = term.lstrip("+-~?").lower()
        if "=" in name.split(":")[0]:  # a modifier
            key, _, value = term.partition("=")
            if key.lower() == "redirect":
                redirect = value
            continue
        qualifier = term[0] if term[0] in _QUALIFIERS else "+"
        mechanism, _, argument = term.lstrip("+-~?").partition(":")
        mechanism = mechanism.lower()
        # "a/24" and "mx/24" carry a prefix without a colon.
        if "/" in mechanism:
            mechanism, _, prefix = mechanism.partition("/")
            argument = argument or "/" + prefix
        matched = False
        if mechanism == "all":
            matched = True
        elif mechanism in {"ip4", "ip6"}:
            try:
                network = ipaddress.ip_network(argument, strict=False)
            except ValueError as exc:
                raise _SpfPermError(f"bad {mechanism} value {argument!r}") from exc
            matched = network.version == ip.version and ip in network
        elif mechanism == "a":
            ctx.count()
            host, v4, v6 = _split_cidr(argument, domain)
            matched = _ip_in(ip, _host_addresses(ctx, host), v4, v6)
        elif mechanism == "mx":
            ctx.count()
            host, v4, v6 = _split_cidr(argument, domain)
            exchanges = [r.split()[-1].rstrip(".") for r in query(ctx.resolver, host, "MX")][:10]
            matched = any(_ip_in(ip, _host_addresses(ctx, mx), v4, v6) for mx in exchanges)
        elif mechanism == "include":
            ctx.count()
            if not argument:
                raise _SpfPermError("include without a domain")
            ctx.includes.append(argument)
            result = spf_check_host(ip, argument, ctx, depth=depth + 1)
            if result == "none":
                raise _SpfPermError(f"include:{argument} has no SPF record")
            matched = result == "pass"
        elif mechanism == "exists":
            ctx.count()
            matched = bool(query(ctx.resolver, argument, "A"))
        elif mechanism == "ptr":
            ctx.count()  # deprecated (RFC 7208 §5.5): never matches here
        else:
            raise _SpfPermError(f"unknown mechanism {term!r}")
        if matched:
            return _QUALIFIERS[qualifier]
    if redirect:
        ctx.count()
        result = spf_check_host(ip, redirect, ctx, depth=depth + 1)
        if result == "none":
            raise _SpfPermError(f"redirect={redirect} has no SPF record")
        return result
    return "neutral"


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
        return DnsVerdict("SPF", domain, Status.UNKNOWN, f"could not check: {exc}")
    if not records:
        return DnsVerdict(
            "SPF",
            domain,
            Status.ERROR,
            f"No SPF record: receivers cannot tell which servers may send for {domain}.",
        )
    if len(records) > 1:
        return DnsVerdict(
            "SPF",
            domain,
            Status.ERROR,
            f"{len(records)} SPF records: exactly one is allowed, receivers treat this as an error (permerror).",
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
            return DnsVerdict("SPF", domain, Status.UNKNOWN, f"could not check: {exc}", record=record)
        if not addresses:
            return DnsVerdict(
                "SPF",
                domain,
                Status.UNKNOWN,
                f"could not check: the sending server {host} has no address in DNS.",
                record=record,
            )
    if all(_is_local(a) for a in addresses):
        return DnsVerdict(
            "SPF",
            domain,
            Status.UNKNOWN,
            f"could not check: the sending server {host} is a local address; receivers check the public "
            "address your relay sends from.",
            record=record,
        )
    results: dict[str, str] = {}
    includes: list[str] = []
    for address in addresses:
        ctx = _SpfContext(resolver)
        try:
            results[str(address)] = spf_check_host(address, domain, ctx)
        except _SpfPermError as exc:
            results[str(address)] = "permerror"
            details.append(f"{address}: permerror: {exc}")
        except DnsLookupError as exc:
            return DnsVerdict("SPF", domain, Status.UNKNOWN, f"could not check: {exc}", record=record)
        includes.extend(i for i in ctx.includes if i not in includes)
    if includes:
        details.append("Includes: " + ", ".join(includes))
    details.extend(f"{address}: {result}" for address, result in results.items())
    outcome = set(results.values())
    if "+all" in record.lower().split() or record.lower().split()[-1] == "all":
        return DnsVerdict(
            "SPF",
            domain,
            Status.WARNING,
            "The record ends in +all: it lets any server on the internet send as this domain.",
            record=record,
            details=tuple(details),
        )
    if outcome == {"pass"}:
        status, verdict = Status.OK, f"Authorises the sending server {host}."
    elif "permerror" in outcome:
        status, verdict = Status.ERROR, "The record is invalid (permerror): receivers ignore it."
    elif "fail" in outcome:
        status, verdict = Status.ERROR, f"Does not authorise the sending server {host} (fail): its mail is refused."
    else:
        worst_result = "softfail" if "softfail" in outcome else "neutral"
        status = Status.WARNING
        verdict = f"Does not authorise the sending server {host} ({worst_result}): its mail is likely marked as spam."
    return DnsVerdict("SPF", domain, status, verdict, record=record, details=tuple(details))
