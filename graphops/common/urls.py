"""The one parse every URL graphops accepts goes through, whatever it is for.

Python's ``urlsplit`` and a browser's (WHATWG) parser, which .NET and Graph follow closely, read some text as
different hosts: ``https://evil.example\\@good.example/`` is good.example to the first and evil.example to the
second; tabs and newlines vanish in one and not the other; ``%67ood.example`` is decoded in one only. A check
made on one reading and a request sent on the other is how a URL slips past an allowlist. So :func:`parse_url`
refuses every text the readings could differ on (non-ASCII, blanks, controls, ``\\``, user information, a
missing ``//``, a fragment, a host that is not a plain DNS name or a canonical IP address), and returns the
parts of what is left. Callers compare and build from those parts and never parse the text again.
"""

from __future__ import annotations

import codecs
import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from graphops.common.errors import Rejected, SettingsError

DEFAULT_PORTS = {"https": 443, "http": 80}
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+", re.IGNORECASE)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PORT = re.compile(r"[0-9]{1,5}")
# A host (a bracketed IPv6 literal, or anything without brackets and colons) and an optional port: an empty port
# ("host:") is refused with the rest, though some parsers take it for the default.
_NETLOC = re.compile(r"(?P<host>\[[^\[\]]*\]|[^\[\]:]*)(?::(?P<port>[^:]*))?")


@dataclass(frozen=True)
class Url:
    """A URL from its one parse: scheme and host in lower case, the port as written, path and query verbatim."""

    scheme: str
    host: str  # a DNS name, a canonical IPv4 address, or an IPv6 address (without its brackets)
    port: int | None  # None: the URL names no port
    path: str
    query: str

    @property
    def effective_port(self) -> int | None:
        """The port a connection goes to: the one written, else the scheme's default."""
        return self.port if self.port is not None else DEFAULT_PORTS.get(self.scheme)

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    @property
    def text(self) -> str:
        """The URL spelled from its parts: what graphops sends is what was checked."""
        return urlunsplit((self.scheme, self.netloc, self.path, self.query, ""))


def url_text(raw: object, field: str, max_length: int) -> str:
    """``raw`` as a URL string: present, not too long, printable ASCII with no blanks or backslashes.

    Anything else is refused here, before a URL parser can read it in some surprising way.
    """
    if not isinstance(raw, str) or not raw:
        raise Rejected(field, "required, a string")
    if len(raw) > max_length:
        raise Rejected(field, f"longer than {max_length} characters")
    if not raw.isascii() or any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in raw):
        raise Rejected(field, "contains a character that is not allowed in a URL (non-ASCII, blank, control or '\\')")
    return raw


def parse_url(raw: object, field: str, max_length: int, *, base: Url | None = None) -> Url:
    """``raw`` read once, in the one way every URL parser agrees on; :class:`Rejected` naming ``field`` otherwise.

    With ``base``, a path (``/…``, not ``//…``) is read on base's scheme and host.
    """
    text = url_text(raw, field, max_length)
    if base is not None and text.startswith("/") and not text.startswith("//"):
        text = base.origin + text
    if not _ABSOLUTE.match(text):
        raise Rejected(field, "must be an absolute URL (scheme://host/path)")
    if "#" in text:
        raise Rejected(field, "must not have a fragment")
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed or invalid bracketed host
        raise Rejected(field, "not a valid URL (bad host or port)") from None
    if "@" in parts.netloc:
        raise Rejected(field, "must not carry user information")
    netloc = _NETLOC.fullmatch(parts.netloc)
    port_text = netloc["port"] if netloc else None
    if netloc is None or (port_text is not None and not (_PORT.fullmatch(port_text) and 0 < int(port_text) < 65536)):
        raise Rejected(field, "not a valid URL (bad host or port)")
    host = netloc["host"].lower()
    if not host:
        raise Rejected(field, "has no host")
    if host.startswith("["):
        host = _ipv6_literal(host, field)
    else:
        check_host_spelling(host, field)
    path = parts.path
    if _BAD_PERCENT.search(path):
        raise Rejected(field, "malformed percent-encoding in the path")
    return Url(parts.scheme.lower(), host, int(port_text) if port_text else None, path, parts.query)


def _ipv6_literal(host: str, field: str) -> str:
    """The address inside ``[…]``: a valid IPv6 address without a zone (``%25eth0``, which parsers read apart)."""
    inner = host[1:-1]
    try:
        ipaddress.IPv6Address(inner)
    except ValueError:
        raise Rejected(field, f"host {host!r} is not an IPv6 address") from None
    if "%" in inner:
        raise Rejected(field, f"host {host!r} names a zone, which is not allowed")
    return inner


def check_host_spelling(host: str, field: str) -> None:
    """A lower-case DNS name or a canonical IPv4 address; every other spelling some parser reads otherwise."""
    if host.endswith("."):
        raise Rejected(field, "host must not end with a dot")
    if _NUMERIC_HOST.fullmatch(host) and not host.replace(".", "").isalpha():
        # 2130706433, 0x7f.1, 017700000001, 127.1: all spellings of 127.0.0.1. Only the canonical form may pass.
        try:
            canonical = str(ipaddress.IPv4Address(host))
        except ValueError:
            canonical = None
        if canonical != host:
            raise Rejected(field, f"host {host!r} is not a canonical IP address or a DNS name")
        return
    if not all(_LABEL.fullmatch(label) and _punycode_ok(label) for label in host.split(".")):
        raise Rejected(field, f"host {host!r} is not a valid DNS name")


def _punycode_ok(label: str) -> bool:
    """An IDNA label (``xn--…``) must decode: one that does not is a host only some parsers accept."""
    if not label.startswith("xn--"):
        return True
    try:
        codecs.decode(label[4:].encode(), "punycode")
    except UnicodeError:
        return False
    return True


def require_https(name: str, uri: str) -> None:
    """A setting that must name an https URL (a service endpoint): :class:`SettingsError` naming it otherwise."""
    if urlsplit(uri).scheme != "https":
        raise SettingsError(name, f"must be an https URL, not {uri!r}")
