"""A stand-in DNS server on a free loopback UDP port, answering from a dictionary.

Used by the diagnostics tests so SPF / DKIM / DMARC checks run against real DNS messages
(dnspython's wire format, a real UDP socket) without any network beyond 127.0.0.1::

    with DnsStandIn() as dns_server:
        dns_server.add_txt("example.com", "v=spf1 ip4:192.0.2.10 -all")
        dns_server.add("smtp.example.com", "A", "192.0.2.10")
        settings.MAILCORE_DNS_NAMESERVER, settings.MAILCORE_DNS_PORT = dns_server.host, dns_server.port

A name with no record at all answers NXDOMAIN; a known name without the asked type answers an
empty NOERROR. ``silence(name)`` never answers (the client times out), ``servfail(name)`` answers
SERVFAIL.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


def _key(name: str) -> str:
    return name.rstrip(".").lower()


def txt_rdata(text: str) -> str:
    """The zone-file form of a TXT value, split in 255-byte strings as RFC 7208 §3.3 allows."""
    chunks = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


class DnsStandIn:
    """A running stand-in: ``host``, ``port``, ``add()``, ``add_txt()``, ``queries``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self._records: dict[tuple[str, str], list[str]] = {}
        self._silent: set[str] = set()
        self._servfail: set[str] = set()
        self._lock = threading.Lock()
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.05)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns-stand-in", daemon=True)

    # --- records ------------------------------------------------------------------------------
    def add(self, name: str, rdtype: str, *values: str) -> None:
        """Answer ``values`` (zone-file text, e.g. ``"192.0.2.1"`` or ``"10 mx.example.com."``)."""
        with self._lock:
            self._records.setdefault((_key(name), rdtype.upper()), []).extend(values)

    def add_txt(self, name: str, *texts: str) -> None:
        """One TXT record per text (long texts are split into 255-byte strings)."""
        self.add(name, "TXT", *(txt_rdata(t) for t in texts))

    def silence(self, name: str) -> None:
        with self._lock:
            self._silent.add(_key(name))

    def servfail(self, name: str) -> None:
        with self._lock:
            self._servfail.add(_key(name))

    # --- server -------------------------------------------------------------------------------
    def start(self) -> DnsStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> DnsStandIn:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, address = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            reply = self._answer(data)
            if reply is not None:
                try:
                    self._sock.sendto(reply, address)
                except OSError:
                    return

    def _answer(self, data: bytes) -> bytes | None:
        try:
            request = dns.message.from_wire(data)
        except Exception:  # not DNS: ignore, as a real server would
            return None
        if not request.question:
            return None
        question = request.question[0]
        name = _key(question.name.to_text())
        rdtype = dns.rdatatype.to_text(question.rdtype)
        with self._lock:
            self.queries.append((name, rdtype))
            silent = name in self._silent
            servfail = name in self._servfail
            values = list(self._records.get((name, rdtype), []))
            known = any(n == name for n, _ in self._records)
        if silent:
            return None
        response = dns.message.make_response(request)
        response.flags |= dns.flags.AA
        if servfail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif values:
            response.answer.append(
                dns.rrset.from_text_list(question.name, 300, dns.rdataclass.IN, question.rdtype, values)
            )
        elif not known:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()
