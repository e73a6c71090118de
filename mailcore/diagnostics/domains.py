"""SPF, DKIM and DMARC of the alias domains, looked up with dnspython.

Odoo's troubleshooting page: "One of the most common reasons for an email failing to be sent with no error
message is related to the SPF or DKIM configuration", and "when using a custom domain, verify that
SPF, DKIM, and DMARC are correctly configured". Each alias domain gets a verdict per record: SPF is
evaluated by pyspf for the addresses of the server that sends the domain's mail (RFC 7208
``check_host``), DKIM looks up ``<MAILCORE_DKIM_SELECTOR>._domainkey.<domain>``, DMARC
``_dmarc.<domain>`` (then the organizational domain, by the Public Suffix List).

Lookups use a short timeout and ``MAILCORE_DNS_NAMESERVER`` / ``MAILCORE_DNS_PORT`` when set (tests
point them at a stand-in on 127.0.0.1), else the system resolver. A lookup that fails gives
"could not check: …", never an exception.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import dns.resolver
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from publicsuffixlist import PublicSuffixList

from mailcore import conf
from mailcore.diagnostics.base import Check, Item, Status, could_not_check, describe_error, worst
from mailcore.diagnostics.lookup import DnsLookupError, DnsVerdict, make_resolver, query, txt_records
from mailcore.diagnostics.spf import check_spf
from mailcore.dkim import dkim_public_key
from mailcore.models import AliasDomain
from mailcore.servers import server_find

logger = logging.getLogger(__name__)

# RFC 6761 / RFC 2606 special-use names: never published in the public DNS.
SPECIAL_USE_TLDS = {"localhost", "test", "invalid", "example", "local", "internal", "home.arpa"}

DNS_TITLE = _("SPF, DKIM and DMARC of the alias domains")

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class DomainReport:
    """SPF, DKIM and DMARC of one alias domain, and the server that sends its mail."""

    domain: str
    sending_host: str
    spf: DnsVerdict
    dkim: DnsVerdict
    dmarc: DnsVerdict
    public: bool = True

    @property
    def verdicts(self) -> tuple[DnsVerdict, DnsVerdict, DnsVerdict]:
        return (self.spf, self.dkim, self.dmarc)

    @property
    def status(self) -> Status:
        return worst([v.status for v in self.verdicts])


def is_special_use(domain: str) -> bool:
    name = domain.rstrip(".").lower()
    return name in SPECIAL_USE_TLDS or any(name.endswith("." + tld) for tld in SPECIAL_USE_TLDS)


def sending_host(alias_domain: AliasDomain) -> str:
    """The host that sends this domain's notifications (Odoo's server selection for its From)."""
    return server_find(alias_domain.default_from_email, alias_domain=alias_domain).host


# --- DKIM ---------------------------------------------------------------------------------------
def _tags(record: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags[key.strip().lower()] = "".join(value.split())
    return tags


def _rsa_bits(der: bytes) -> int | None:
    """Modulus size of an RSA SubjectPublicKeyInfo (or bare RSAPublicKey), read from its DER."""

    def read(data: bytes, pos: int) -> tuple[int, int, int]:  # (tag, start of content, length)
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos : pos + count], "big")
            pos += count
        return tag, pos, length

    try:
        tag, pos, _ = read(der, 0)  # SEQUENCE
        tag, inner, length = read(der, pos)
        if tag == 0x30:  # AlgorithmIdentifier: SubjectPublicKeyInfo; skip to the BIT STRING
            tag, bits_pos, _ = read(der, inner + length)
            _, pos, _ = read(der, bits_pos + 1)  # RSAPublicKey SEQUENCE after the unused-bits byte
            tag, inner, length = read(der, pos)
        if tag != 0x02:
            return None
        modulus = der[inner : inner + length].lstrip(b"\x00")
        return len(modulus) * 8 if modulus else None
    except IndexError:
        return None


def check_dkim(
    resolver: dns.resolver.Resolver, domain: str, selector: str, signing_key: str = ""
) -> DnsVerdict:
    """DKIM key of ``selector`` for ``domain``: a TXT at ``<selector>._domainkey.<domain>`` with p=.

    ``signing_key`` is the public key (base64) of the key mailcore signs the domain's mail with, if
    any: a published record with another key makes every signature fail.
    """
    name = f"{selector}._domainkey.{domain}"
    try:
        records = [r for r in query(resolver, name, "TXT") if "p=" in r.replace(" ", "")]
    except DnsLookupError as exc:
        return DnsVerdict("DKIM", name, Status.UNKNOWN, could_not_check(str(exc)))
    if not records:
        return DnsVerdict(
            "DKIM",
            name,
            Status.ERROR,
            gettext("No DKIM key for selector '%(selector)s': receivers cannot verify the signature of your mail.")
            % {"selector": selector},
        )
    record = records[0]
    tags = _tags(record)
    key_type = tags.get("k", "rsa").lower()
    public_key = tags.get("p", "")
    if not public_key:
        return DnsVerdict("DKIM", name, Status.ERROR, gettext("The key is revoked (empty p=)."), record=record)
    try:
        der = base64.b64decode(public_key, validate=True)
    except ValueError:
        return DnsVerdict("DKIM", name, Status.ERROR, gettext("The key (p=) is not valid base64."), record=record)
    if signing_key and public_key != signing_key:
        return DnsVerdict(
            "DKIM",
            name,
            Status.ERROR,
            gettext(
                "The published key is not the one mailcore signs this domain's mail with: every signature fails. "
                "Publish the record shown on the alias domain's page."
            ),
            record=record,
        )
    if key_type == "rsa":
        bits = _rsa_bits(der)
        if bits is None:
            return DnsVerdict(
                "DKIM", name, Status.ERROR, gettext("The key (p=) is not an RSA public key."), record=record
            )
        if bits < 1024:
            return DnsVerdict(
                "DKIM",
                name,
                Status.ERROR,
                gettext("The RSA key has only %(bits)d bits; receivers ignore keys under 1024 bits (RFC 8301).")
                % {"bits": bits},
                record=record,
            )
        if bits >= 2048:
            verdict = gettext("Key published for selector '%(selector)s' (RSA key of %(bits)d bits).")
            status = Status.OK
        else:
            verdict = gettext(
                "Key published for selector '%(selector)s' (RSA key of %(bits)d bits). 2048 bits are recommended."
            )
            status = Status.WARNING
        return DnsVerdict("DKIM", name, status, verdict % {"selector": selector, "bits": bits}, record=record)
    verdict = gettext("Key published for selector '%(selector)s' (%(type)s).") % {
        "selector": selector,
        "type": key_type,
    }
    return DnsVerdict("DKIM", name, Status.OK, verdict, record=record)


# --- DMARC --------------------------------------------------------------------------------------
@functools.cache
def _public_suffix_list() -> PublicSuffixList:
    return PublicSuffixList()  # the list shipped with the package, parsed once


def _organizational_domain(domain: str) -> str:
    """The registered domain (RFC 7489 §3.2): one label under its public suffix, by the Public
    Suffix List — ``mail.example.co.uk`` → ``example.co.uk``."""
    name = domain.rstrip(".").lower()
    return _public_suffix_list().privatesuffix(name) or name


def check_dmarc(resolver: dns.resolver.Resolver, domain: str) -> DnsVerdict:
    """DMARC policy of ``domain``: ``_dmarc.<domain>``, else its organizational domain (RFC 7489 §6.6.3)."""
    name = f"_dmarc.{domain}"
    inherited = False
    try:
        records = txt_records(resolver, name, "v=DMARC1")
        org = _organizational_domain(domain)
        if not records and org != domain.rstrip("."):
            org_records = txt_records(resolver, f"_dmarc.{org}", "v=DMARC1")
            if org_records:
                name, records, inherited = f"_dmarc.{org}", org_records, True
    except DnsLookupError as exc:
        return DnsVerdict("DMARC", name, Status.UNKNOWN, could_not_check(str(exc)))
    if not records:
        return DnsVerdict(
            "DMARC",
            name,
            Status.WARNING,
            gettext(
                "No DMARC record: large mailbox providers expect one from senders, and receivers get no policy "
                "for mail failing SPF and DKIM."
            ),
        )
    if len(records) > 1:
        return DnsVerdict(
            "DMARC",
            name,
            Status.ERROR,
            gettext("%(count)d DMARC records: receivers ignore them all (RFC 7489 §6.6.3).") % {"count": len(records)},
            record=" | ".join(records),
        )
    record = records[0]
    tags = _tags(record)
    policy = (tags.get("sp", "") if inherited and tags.get("sp") else tags.get("p", "")).lower()
    details = [gettext("Policy: %(tag)s") % {"tag": f"p={tags.get('p', '')}"}]
    if "sp" in tags:
        details.append(gettext("Subdomain policy: %(tag)s") % {"tag": f"sp={tags['sp']}"})
    if "pct" in tags:
        details.append(gettext("Applied to %(pct)s%% of failing mail (pct)") % {"pct": tags["pct"]})
    if "rua" in tags:
        details.append(gettext("Aggregate reports to %(address)s") % {"address": tags["rua"]})
    if inherited:
        details.append(gettext("Inherited from the organizational domain (%(name)s).") % {"name": name})
    if policy not in {"none", "quarantine", "reject"}:
        return DnsVerdict(
            "DMARC",
            name,
            Status.ERROR,
            gettext("The record has no valid policy (p=none, quarantine or reject)."),
            record=record,
            details=tuple(details),
        )
    if policy == "none":
        return DnsVerdict(
            "DMARC",
            name,
            Status.WARNING,
            gettext("Policy none: monitoring only, receivers take no action on mail failing SPF and DKIM."),
            record=record,
            details=tuple(details),
        )
    verdict = (
        gettext("Policy reject: mail failing SPF and DKIM is refused.")
        if policy == "reject"
        else gettext("Policy quarantine: mail failing SPF and DKIM goes to spam.")
    )
    return DnsVerdict("DMARC", name, Status.OK, verdict, record=record, details=tuple(details))


# --- per domain ---------------------------------------------------------------------------------
def domain_reports() -> list[DomainReport]:
    """SPF, DKIM and DMARC of every alias domain, looked up in parallel with short timeouts."""
    domains = list(AliasDomain.objects.order_by("sequence", "id"))
    if not domains:
        return []
    hosts: dict[str, str] = {}
    for alias_domain in domains:
        try:
            hosts[alias_domain.name] = sending_host(alias_domain)
        except Exception as exc:  # a misconfigured From: say so in the SPF verdict
            hosts[alias_domain.name] = ""
            logger.info("No sending server for %s: %s", alias_domain.name, exc)
    selectors = {d.name: d.dkim_selector or conf.dkim_selector() for d in domains}
    signing_keys = {d.name: dkim_public_key(d) for d in domains}
    try:
        resolver = make_resolver()
    except Exception as exc:  # no /etc/resolv.conf, a nameserver that is not an IP…
        failure = could_not_check(gettext("no DNS resolver (%(error)s)") % {"error": describe_error(exc)})
        return [
            DomainReport(
                d.name,
                hosts[d.name],
                DnsVerdict("SPF", d.name, Status.UNKNOWN, failure),
                DnsVerdict("DKIM", f"{selectors[d.name]}._domainkey.{d.name}", Status.UNKNOWN, failure),
                DnsVerdict("DMARC", f"_dmarc.{d.name}", Status.UNKNOWN, failure),
            )
            for d in domains
        ]

    def spf(domain: str) -> DnsVerdict:
        if not hosts[domain]:
            return DnsVerdict(
                "SPF", domain, Status.UNKNOWN, could_not_check(gettext("no outgoing server sends for it."))
            )
        return check_spf(resolver, domain, hosts[domain])

    reports: list[DomainReport] = []
    public = [d.name for d in domains if not is_special_use(d.name)]
    with ThreadPoolExecutor(max_workers=max(1, min(9, 3 * len(public)))) as pool:
        futures = {
            name: (
                pool.submit(in_language(spf), name),
                pool.submit(in_language(check_dkim), resolver, name, selectors[name], signing_keys[name]),
                pool.submit(in_language(check_dmarc), resolver, name),
            )
            for name in public
        }
        for alias_domain in domains:
            name = alias_domain.name
            if name not in futures:
                verdict = gettext(
                    "%(domain)s is not a public domain (RFC 6761): receivers cannot check SPF, DKIM or DMARC "
                    "for it. Set your own domain as alias domain."
                ) % {"domain": name}
                reports.append(
                    DomainReport(
                        name,
                        hosts[name],
                        DnsVerdict("SPF", name, Status.WARNING, verdict),
                        DnsVerdict("DKIM", f"{selectors[name]}._domainkey.{name}", Status.WARNING, verdict),
                        DnsVerdict("DMARC", f"_dmarc.{name}", Status.WARNING, verdict),
                        public=False,
                    )
                )
                continue
            spf_f, dkim_f, dmarc_f = futures[name]
            reports.append(
                DomainReport(
                    name,
                    hosts[name],
                    _result(spf_f.result, "SPF", name),
                    _result(dkim_f.result, "DKIM", f"{selectors[name]}._domainkey.{name}"),
                    _result(dmarc_f.result, "DMARC", f"_dmarc.{name}"),
                )
            )
    return reports


def _result(get: Callable[[], DnsVerdict], kind: str, name: str) -> DnsVerdict:
    try:
        return get()
    except Exception as exc:  # a bug in a check must not hide the others
        logger.exception("DNS check %s %s failed", kind, name)
        return DnsVerdict(kind, name, Status.UNKNOWN, could_not_check(describe_error(exc)))


def in_language(func: Callable[P, R]) -> Callable[P, R]:
    """``func`` run in the caller's active language: a pool's threads do not inherit it."""
    language = translation.get_language()

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with translation.override(language):
            return func(*args, **kwargs)

    return wrapper


def dns_check(reports: list[DomainReport]) -> Check:
    """The domain reports summed up as one check (for the page heading and the support bundle)."""
    title = str(DNS_TITLE)
    if not reports:
        return Check("dns", title, Status.WARNING, gettext("No alias domain is configured."))
    status = worst([r.status for r in reports])
    summary = {
        Status.OK: gettext("Every alias domain authorises its sending server and publishes DKIM and DMARC."),
        Status.WARNING: gettext("Some records are missing or weak: mail may land in spam."),
        Status.ERROR: gettext("Some records are missing or wrong: mail may be refused with no error message."),
        Status.UNKNOWN: gettext("Some records could not be checked."),
    }[status]
    return Check(
        "dns",
        title,
        status,
        summary,
        advice=gettext(
            "When using a custom domain, verify that SPF, DKIM and DMARC are correctly configured so "
            "that the sending server is allowed to send on the domain's behalf."
        ),
        items=tuple(Item(f"{v.kind} {r.domain}", v.verdict, status=v.status) for r in reports for v in r.verdicts),
    )
