"""One structured line per step. Never a token, a secret, a signed link, or a callback URL's query string."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

from graphops.common.signed import withhold_signed_in

log = logging.getLogger("graphops")


def redact_url(url: str) -> str:
    """A URL fit for a log: scheme, host and path; the query (Logic Apps' ``sig=``) and userinfo dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    where = f"{parts.scheme}://{host}{port}" if parts.scheme or host else ""  # a relative URL stays relative
    return f"{where}{parts.path}" + ("?…" if parts.query else "")


def event(name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event as a JSON line; Application Insights keeps it as the trace message."""
    if not log.isEnabledFor(level):
        return  # not written: not formatted either
    # Whatever a field holds (a URL, Graph's answer, an error's text), a signed link in it never reaches a log.
    record = withhold_signed_in({"event": name, **{k: v for k, v in fields.items() if v is not None}})
    log.log(level, json.dumps(record, default=str, ensure_ascii=False))


class _DropQueryStrings(logging.Filter):
    """urllib3 logs each request line at DEBUG, query string included: a callback's ``sig=`` among them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _strip_query(arg) if isinstance(arg, str) and "?" in arg else arg for arg in record.args
            )
        return True


def _strip_query(text: str) -> str:
    return text.split("?", 1)[0] + "?…"


_REDACTION = _DropQueryStrings()


# The Azure SDK logs every storage request and response (URL and headers) at INFO, and the Functions
# Python worker passes INFO on to Application Insights: one paid trace per queue or table call.
QUIET_LOGGERS = ("azure.core.pipeline.policies.http_logging_policy", "azure.monitor")
# azure-eventgrid hands a send's per-call options (no retries, no redirects, timeouts:
# graphops/delivery/event_grid_sink.py) to its event model too, which warns once per option and event that it
# ignores them: noise, not news.
#
# azure-identity warns of every failed get_token, a chain's every credential at that: with no token each poll of each
# tracking would log it. The step says it once per process instead (pollProblem), and keeps the reason in the
# tracking's state (graphops.envelope.problems).
SILENCED_LOGGERS = ("azure.eventgrid._legacy._generated._serialization", "azure.identity")


def quiet_http_client_logs() -> None:
    """Keep query strings out of the HTTP client's debug lines, and the SDK's per-request lines out of the
    traces. Safe to call more than once."""
    logger = logging.getLogger("urllib3.connectionpool")
    if _REDACTION not in logger.filters:
        logger.addFilter(_REDACTION)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in SILENCED_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
