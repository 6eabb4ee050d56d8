"""Which URLs named by a caller graphops will send a request to, and the address it will connect to.

:class:`CallbackPolicy` decides whether a URL may be called at all (https, an allowed host, no private
address) and pins the address it resolved to, so a DNS answer cannot change between the check and the
connection. Callbacks and drive-copy monitors both go through it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass

from graphops.common.errors import Rejected
from graphops.common.urls import DEFAULT_PORTS, Url, parse_url

MAX_CALLBACK_URL_LENGTH = 4096
# Addresses that are public on paper but reach the platform itself (Azure's wire server).
_PLATFORM_ADDRESSES = frozenset({ipaddress.ip_address("168.63.129.16")})
Resolver = Callable[[str, int], list[str]]


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for ``host``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class AllowedHost:
    """One entry of GRAPHOPS_CALLBACK_ALLOWED_HOSTS: ``host``, ``host:port`` or ``*.suffix``."""

    pattern: str
    port: int | None

    @classmethod
    def parse(cls, entry: str) -> AllowedHost:
        if entry.startswith("["):  # [v6]:port
            host, _, rest = entry[1:].partition("]")
            return cls(host, int(rest[1:]) if rest.startswith(":") else None)
        if entry.count(":") == 1:
            host, port = entry.split(":")
            return cls(host, int(port))
        return cls(entry, None)

    @property
    def is_literal(self) -> bool:
        return not self.pattern.startswith("*.")

    def matches(self, host: str, port: int, default_port: int) -> bool:
        if (self.port if self.port is not None else default_port) != port:
            return False
        if self.is_literal:
            return host == self.pattern
        return host.endswith(self.pattern[1:])


@dataclass(frozen=True)
class CallbackTarget:
    """A callback URL that passed the rules, with the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


class CallbackPolicy:
    """The rules for callback URLs, from the settings."""

    def __init__(
        self,
        allowed_hosts: tuple[str, ...],
        *,
        allow_http: bool = False,
        resolver: Resolver = system_resolver,
        is_public: Callable[[str], bool] | None = None,
        field: str = "callbackUrl",
        setting: str = "GRAPHOPS_CALLBACK_ALLOWED_HOSTS",
    ) -> None:
        # The same rules guard every URL graphops calls that a caller chose: callbacks, and the drive-copy
        # monitors it polls without a token (field="operationUrl", setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS").
        self._field = field
        self._setting = setting
        self._allowed = tuple(AllowedHost.parse(entry) for entry in allowed_hosts)
        self._allow_http = allow_http
        self._resolve = resolver
        # Which resolved addresses count as public (tests on loopback widen it; platform addresses stay refused).
        self._is_public = is_public or is_public_address

    def check_syntax(self, raw: object) -> str:
        """Check everything that needs no DNS: scheme, host spelling, allowed host, port."""
        self.allowed_entry(parse_url(raw, self._field, MAX_CALLBACK_URL_LENGTH))
        assert isinstance(raw, str)
        return raw

    def allowed_entry(self, url: Url) -> AllowedHost:
        """The entry of the allowed hosts that lets ``url`` (already parsed) be called; :class:`Rejected` otherwise."""
        field = self._field
        if url.scheme not in DEFAULT_PORTS or (url.scheme == "http" and not self._allow_http):
            raise Rejected(field, "must be an https URL" + ("" if url.scheme == "http" else f", not {url.scheme}"))
        default_port = DEFAULT_PORTS[url.scheme]
        port = url.effective_port
        assert port is not None  # the scheme has a default
        for allowed in self._allowed:
            if allowed.matches(url.host, port, default_port):
                return allowed
        shown = url.host if port == default_port else f"{url.host}:{port}"
        raise Rejected(field, f"host {shown} is not in {self._setting}")

    def target(self, raw: str) -> CallbackTarget:
        """Resolve the callback host once and pick the address to connect to.

        Every address must be public, with one exception: an allowed entry that names an IP literal or
        ``localhost`` itself (not a DNS name, which can be re-pointed, nor a wildcard) may be private or
        loopback. Link-local and platform addresses (the instance metadata service, Azure's wire server)
        are refused always. Raises :class:`Rejected` naming ``callbackUrl``, and :class:`OSError` when DNS
        gives no answer.
        """
        url = parse_url(raw, self._field, MAX_CALLBACK_URL_LENGTH)
        allowed = self.allowed_entry(url)
        host, port = url.host, url.effective_port
        assert port is not None
        try:
            literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [str(literal)] if literal is not None else self._resolve(host, port)
        if not addresses:
            raise OSError(f"no address for {host}")
        exempt = allowed.is_literal and (literal is not None or host == "localhost")
        for address in addresses:
            if is_platform_address(address):
                raise Rejected(
                    self._field, f"host {host} resolves to a non-public address ({address}: link-local or platform)"
                )
            if host == "localhost" and not _ip(address).is_loopback:
                raise Rejected(self._field, f"localhost resolves to a non-loopback address ({address})")
            if not exempt and not self._is_public(address):
                raise Rejected(self._field, f"host {host} resolves to a non-public address ({address})")
        return CallbackTarget(url=raw, scheme=url.scheme, host=host, port=port, address=addresses[0])


_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are IPv4
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local use: translated as the site likes
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_IPV4_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # RFC 2765 ::ffff:0:a.b.c.d
_LINK_LOCAL = (ipaddress.ip_network("169.254.0.0/16"), ipaddress.ip_network("fe80::/10"))


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(address.split("%", 1)[0])


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, translated, NAT64, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _IPV4_TRANSLATED:
        return low32
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # :: and ::1 are not IPv4 addresses
        return low32
    if ip.sixtofour is not None:
        return ip.sixtofour
    return ip.teredo[1] if ip.teredo else None


def is_platform_address(address: str) -> bool:
    """Link-local (the metadata service 169.254.169.254 among them) or Azure's wire server, however wrapped."""
    ip = _ip(address)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_platform_address(str(inner))
    return ip in _PLATFORM_ADDRESSES or any(ip in net for net in _LINK_LOCAL if ip.version == net.version)


def is_public_address(address: str) -> bool:
    ip = _ip(address)
    inner = embedded_ipv4(ip)
    if inner is not None:
        return is_public_address(str(inner))
    if ip in _NAT64_LOCAL:
        return False
    return ip.is_global and not ip.is_multicast and ip not in _PLATFORM_ADDRESSES
