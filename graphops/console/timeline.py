"""A tracking's history as the console draws it: pure, so the picture is tested without a browser.

The history (``Tracking.noted``) holds one entry per thing a step did: the start request, each poll of
the operation, each look at the created resource, each delivery attempt. The plot puts time (minutes
since the first entry) across; the lanes of the left axis say what was seen (Graph's status, or the HTTP
status when Graph gave no status), and the right axis the waits chosen after each poll and Graph's
Retry-After.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..tracking import moment_or_none

DELIVERED_PREFIXES = ("delivered", "published", "queued")  # entries written before `delivered` was kept


@dataclass(frozen=True)
class Point:
    minutes: float
    lane: str
    label: str
    ok: bool = True


@dataclass(frozen=True)
class Wait:
    minutes: float
    seconds: float


@dataclass(frozen=True)
class Timeline:
    """What the plot shows. ``lanes`` in the order they first appear, bottom to top."""

    started_at: str | None
    polls: tuple[Point, ...] = ()
    deliveries: tuple[Point, ...] = ()
    delays: tuple[Wait, ...] = ()
    retry_after: tuple[Wait, ...] = ()
    lanes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The chart's data, read by console.js (Chart.js' {x, y} points)."""

        def points(items: Iterable[Point]) -> list[dict[str, Any]]:
            return [{"x": p.minutes, "y": p.lane, "label": p.label, "ok": p.ok} for p in items]

        def waits(items: Iterable[Wait]) -> list[dict[str, Any]]:
            return [{"x": w.minutes, "y": w.seconds} for w in items]

        return {
            "startedAt": self.started_at,
            "lanes": list(self.lanes),
            "polls": points(self.polls),
            "deliveries": points(self.deliveries),
            "delays": waits(self.delays),
            "retryAfter": waits(self.retry_after),
        }


def timeline(history: Iterable[Mapping[str, Any]]) -> Timeline:
    entries = [(moment, entry) for entry in history if (moment := moment_or_none(entry.get("at"))) is not None]
    if not entries:
        return Timeline(started_at=None)
    origin = min(moment for moment, _ in entries)
    polls: list[Point] = []
    deliveries: list[Point] = []
    delays: list[Wait] = []
    retry_after: list[Wait] = []
    for moment, entry in sorted(entries, key=lambda pair: pair[0]):
        minutes = round((moment - origin).total_seconds() / 60, 3)
        if "sink" in entry:
            deliveries.append(_delivery(minutes, entry))
            continue
        polls.append(_look(minutes, entry))
        if isinstance(entry.get("next"), int | float):
            delays.append(Wait(minutes, float(entry["next"])))
        if isinstance(entry.get("retryAfter"), int | float):
            retry_after.append(Wait(minutes, float(entry["retryAfter"])))
    lanes = tuple(dict.fromkeys(p.lane for p in (*polls, *deliveries)))
    return Timeline(
        started_at=str(min(entries, key=lambda pair: pair[0])[1].get("at")),
        polls=tuple(polls),
        deliveries=tuple(deliveries),
        delays=tuple(delays),
        retry_after=tuple(retry_after),
        lanes=lanes,
    )


def lane_of(entry: Mapping[str, Any]) -> str:
    """The lane an entry is drawn in: what Graph said, in its own words where it gave any."""
    if "start" in entry:
        return f"start: HTTP {entry.get('http')}"
    if "resource" in entry:
        return f"resource: HTTP {entry.get('resource')}"
    if "sink" in entry:
        return f"deliver: {entry.get('sink')}"
    if entry.get("status"):
        return str(entry["status"])
    return f"HTTP {entry.get('http')}"


def delivered(entry: Mapping[str, Any]) -> bool:
    if isinstance(entry.get("delivered"), bool):
        return bool(entry["delivered"])
    return str(entry.get("result", "")).startswith(DELIVERED_PREFIXES)


def _look(minutes: float, entry: Mapping[str, Any]) -> Point:
    words = [lane_of(entry)]
    if "start" in entry:
        words = [f"start {entry['start']}", f"HTTP {entry.get('http')}", str(entry.get("decision") or "")]
    elif entry.get("status"):
        words.append(f"HTTP {entry.get('http')}")
    if entry.get("outcome"):
        words.append(f"outcome {entry['outcome']}")
    http = entry.get("resource", entry.get("http"))
    ok = not (isinstance(http, int) and http >= 400)
    return Point(minutes, lane_of(entry), " · ".join(w for w in words if w), ok)


def _delivery(minutes: float, entry: Mapping[str, Any]) -> Point:
    label = f"{entry.get('sink')} attempt {entry.get('attempt')}: {entry.get('result')}"
    return Point(minutes, lane_of(entry), label, delivered(entry))
