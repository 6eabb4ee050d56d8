"""Signed links: URLs whose query is their own key, withheld wherever graphops keeps or shows a URL.

A storage SAS (``sv=…&se=…&sp=…&sig=…``), a SharePoint monitor's ``tempauth``, a report's temporary download
link: whoever reads such a URL may use it. A personal data export's ``storageLocation`` is one the caller hands
graphops itself; Graph's answers carry others. :func:`withhold_signed` is the one rule: in any text, the query of
a URL (or of a path) that carries a signature parameter, in any case, is replaced by a note. Scheme, host and path
stay, so a person can still tell which container or monitor it was. Pure: no I/O.

The state table, the status view, the console, the poison page, the CLI and the logs apply it; the sinks (the
callback, the events, the results queue) get the links, which the caller is owed.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar, cast
from urllib.parse import unquote

T = TypeVar("T")

#: What stands in for a withheld query.
WITHHELD_QUERY = "?(signed: withheld, delivered to the tracking's sinks only)"
# Query parameters that are signatures or bearer keys: Azure Storage SAS, SharePoint monitors (tempauth, any case),
# S3 and GCS presigned URLs, OAuth tokens in a query.
SIGNATURE_PARAMETERS = ("sig", "signature", "tempauth", "x-amz-signature", "x-goog-signature", "access_token")
# A query in text: from '?' to the first character a URL in JSON, HTML or a log line cannot hold.
_QUERY = re.compile(r"\?[^\s\"'<>\\`]*")
# A signature parameter anywhere in a query once decoded (a SAS URL encoded inside another URL's query too).
_SIGNED = re.compile(r"(?:^|[?&;])(?:" + "|".join(map(re.escape, SIGNATURE_PARAMETERS)) + r")=", re.IGNORECASE)


def is_signed(query: str) -> bool:
    """``query`` (with or without its '?') carries a signature: the URL it belongs to is a key."""
    decoded = query
    for _ in range(3):  # a SAS inside a URL inside a query: decode until nothing changes, a few times at most
        if _SIGNED.search(decoded):
            return True
        once = unquote(decoded)
        if once == decoded:
            return False
        decoded = once
    return _SIGNED.search(decoded) is not None


def withhold_signed(text: str) -> str:
    """``text`` with the query of every signed URL in it replaced by a note; any other text as it is."""
    if "?" not in text:
        return text
    return _QUERY.sub(lambda m: WITHHELD_QUERY if is_signed(m.group(0)) else m.group(0), text)


def withhold_signed_in(value: T) -> T:
    """``value`` (JSON: an operation body, a request, a history, a dead letter) with :func:`withhold_signed` applied
    to every string in it, keys included. A new value of the same shape; ``value`` itself is not changed."""
    return cast(T, _withheld(value))


def _withheld(value: Any) -> Any:
    if isinstance(value, str):
        return withhold_signed(value)
    if isinstance(value, dict):
        return {withhold_signed(k) if isinstance(k, str) else k: _withheld(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_withheld(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_withheld(v) for v in value)
    return value
