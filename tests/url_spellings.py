"""URL spellings that Python's urlsplit and a browser's (WHATWG) parser read as different hosts, or that only
one of them reads at all: each must be refused by every field that takes a URL."""

from __future__ import annotations

# {s}: the scheme, {g}: the one host the field allows, {p}: a path the field takes. Each is read as another host
# (or as no host) by one parser or the other, so each must be refused.
HOSTILE = [
    "{s}://evil.example\\@{g}{p}",  # WHATWG: evil.example (a backslash ends the host); urlsplit: {g}
    "{s}://evil.example\\\\@{g}{p}",
    "{s}:/\\evil.example{p}",
    "{s}:\\\\evil.example{p}",
    "{s}://{g}@evil.example{p}",  # user information, read the same way by both: still refused
    "{s}://evil.example%2f@{g}{p}",
    "{s}://evil.example%5c@{g}{p}",
    "{s}://user:pass@{g}{p}",
    "{s}://{g}:443@evil.example{p}",
    "{s}://evil.example\t@{g}{p}",  # tabs and newlines: WHATWG drops them anywhere
    "{s}://{g}\n.evil.example{p}",
    "{s}://{g}\r{p}",
    "{s}://ev il.example@{g}{p}",
    "{s}://{g}%00.evil.example{p}",  # WHATWG decodes a host's percent-escapes; urlsplit does not
    "{s}://{g}%2e.evil.example{p}",
    "{s}://%{hex_first}{g_rest}{p}",  # {g} with its first letter percent-encoded: {g} to WHATWG only
    "{s}://{g}.{p}",  # a trailing dot: the same DNS name, another spelling
    "{s}:{g}{p}",  # no //: WHATWG still reads {g} as the host of a special scheme, urlsplit reads none
    "{s}:///{g}{p}",
    "{s}://{g}:{p}",  # an empty port
    "{s}://{g}:0{p}",
    "{s}://{g}:99999{p}",
    "{s}://{g}:+443{p}",
    "{s}://evil.example#@{g}{p}",
    "{s}://evil.example?@{g}{p}",
    "{s}://ｇ{g_rest}{p}",  # fullwidth: IDNA maps it to {g}
    "{s}://[::1]{p}",
    "{s}://[::1%25eth0]{p}",
    "{s}://[::1{p}",
    "{s}://0x7f.1{p}",
]


def spell(template: str, scheme: str, host: str, path: str) -> str:
    first, rest = host[0], host[1:]
    fills = {"{s}": scheme, "{hex_first}": f"{ord(first):02x}", "{g_rest}": rest, "{g}": host, "{p}": path}
    for name, value in fills.items():
        template = template.replace(name, value)
    return template
