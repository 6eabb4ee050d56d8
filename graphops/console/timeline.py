"""A tracking's history as the console draws it: pure, so the picture is tested without a browser.

The history (``Tracking.noted``) holds one entry per thing a step did: the start request, each poll of
the operation, each look at the created resource, each delivery attempt. Two plots share one time axis
(seconds, minutes or hours since the first entry, as the span needs; each point knows its UTC time): the
first says what was seen (a lane per Graph status, or HTTP status when Graph gave none) and each delivery;
the second, smaller, the wait chosen after each poll and Graph's Retry-After, in seconds. One quantity per
axis.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphops.console.times import exact
from graphops.envelope.tracking import moment_or_none

DELIVERED_PREFIXES = ("delivered", "published", "queued")  # entries written before `delivered` was kept
# The lane of a poll that got no HTTP answer, by its problem's code (graphops.envelope.problems).
NO_ANSWER_LANES = {"noToken": "no token", "unreachable": "Graph unreachable", "timeout": "timed out"}


UNITS = (("seconds", 1.0, 120.0), ("minutes", 60.0, 7200.0), ("hours", 3600.0, float("inf")))


def unit_for(span_seconds: float) -> tuple[str, float]:
    """The time axis' unit: seconds up to two minutes, minutes up to two hours, hours beyond."""
    for name, size, up_to in UNITS:
        if span_seconds <= up_to:
            return name, size
    raise AssertionError("the last unit has no bound")


@dataclass(frozen=True)
class Point:
    x: float  # in the timeline's unit since its start
    lane: str
    label: str
    ok: bool = True
    at: str = ""  # the exact time, UTC


@dataclass(frozen=True)
class Wait:
    x: float
    seconds: float
    at: str = ""


@dataclass(frozen=True)
class Timeline:
    """What the plot shows. ``lanes`` in the order they first appear, bottom to top."""

    started_at: str | None
    unit: str = "seconds"
    polls: tuple[Point, ...] = ()
    deliveries: tuple[Point, ...] = ()
    delays: tuple[Wait, ...] = ()
    retry_after: tuple[Wait, ...] = ()
    lanes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The chart's data, read by console.js (Chart.js' {x, y} points)."""

        def points(items: Iterable[Point]) -> list[dict[str, Any]]:
            return [{"x": p.x, "y": p.lane, "label": p.label, "ok": p.ok, "at": p.at} for p in items]

        def waits(items: Iterable[Wait]) -> list[dict[str, Any]]:
            return [{"x": w.x, "y": w.seconds, "at": w.at} for w in items]

        return {
            "startedAt": self.started_at,
            "unit": self.unit,
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
    unit, size = unit_for(max((moment - origin).total_seconds() for moment, _ in entries))
    polls: list[Point] = []
    deliveries: list[Point] = []
    delays: list[Wait] = []
    retry_after: list[Wait] = []
    for moment, entry in sorted(entries, key=lambda pair: pair[0]):
        x = round((moment - origin).total_seconds() / size, 3)
        at = exact(moment)
        if "sink" in entry:
            deliveries.append(_delivery(x, at, entry))
            continue
        polls.append(_look(x, at, entry))
        if isinstance(entry.get("next"), int | float):
            delays.append(Wait(x, float(entry["next"]), at))
        if isinstance(entry.get("retryAfter"), int | float):
            retry_after.append(Wait(x, float(entry["retryAfter"]), at))
    lanes = tuple(dict.fromkeys(p.lane for p in (*polls, *deliveries)))
    return Timeline(
        started_at=str(min(entries, key=lambda pair: pair[0])[1].get("at")),
        unit=unit,
        polls=tuple(polls),
        deliveries=tuple(deliveries),
        delays=tuple(delays),
        retry_after=tuple(retry_after),
        lanes=lanes,
    )


def lane_of(entry: Mapping[str, Any]) -> str:
    """The lane an entry is drawn in: what Graph said, in its own words where it gave any."""
    if "start" in entry:
        return f"start: HTTP {entry['http']}" if isinstance(entry.get("http"), int) else "start: no answer"
    if "resource" in entry:
        return f"resource: HTTP {entry.get('resource')}"
    if "sink" in entry:
        return f"deliver: {entry.get('sink')}"
    if entry.get("status"):
        return str(entry["status"])
    if isinstance(entry.get("http"), int):
        return f"HTTP {entry['http']}"
    problem = entry.get("problem")
    code = problem.get("code") if isinstance(problem, Mapping) else None
    return NO_ANSWER_LANES.get(str(code), "no answer")  # never "HTTP None": there was no HTTP answer


def delivered(entry: Mapping[str, Any]) -> bool:
    if isinstance(entry.get("delivered"), bool):
        return bool(entry["delivered"])
    return str(entry.get("result", "")).startswith(DELIVERED_PREFIXES)


def _look(x: float, at: str, entry: Mapping[str, Any]) -> Point:
    words = [lane_of(entry)]
    if "start" in entry:
        answered = f"HTTP {entry['http']}" if isinstance(entry.get("http"), int) else "no answer"
        words = [f"start {entry['start']}", answered, str(entry.get("decision") or "")]
    elif entry.get("status"):
        words.append(f"HTTP {entry.get('http')}")
    problem = entry.get("problem")
    if isinstance(problem, Mapping) and problem.get("what"):
        count = problem.get("inARow")
        if not isinstance(entry.get("http"), int) and "resource" not in entry:
            words = []  # its lane says only the kind of problem; the label, the problem in full
        words.append(str(problem["what"]) + (f" ({count} in a row)" if isinstance(count, int) and count > 1 else ""))
    if entry.get("outcome"):
        words.append(f"outcome {entry['outcome']}")
    http = entry.get("resource", entry.get("http"))
    ok = not (isinstance(http, int) and http >= 400) and not isinstance(entry.get("problem"), Mapping)
    return Point(x, lane_of(entry), " · ".join(w for w in words if w), ok, at)


def _delivery(x: float, at: str, entry: Mapping[str, Any]) -> Point:
    label = f"{entry.get('sink')} attempt {entry.get('attempt')}: {entry.get('result')}"
    return Point(x, lane_of(entry), label, delivered(entry), at)
