"""The checks every URL graphops accepts goes through first, whatever it is for."""

from __future__ import annotations

from urllib.parse import urlsplit

from graphops.common.errors import Rejected, SettingsError


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


def require_https(name: str, uri: str) -> None:
    """A setting that must name an https URL (a service endpoint): :class:`SettingsError` naming it otherwise."""
    if urlsplit(uri).scheme != "https":
        raise SettingsError(name, f"must be an https URL, not {uri!r}")
