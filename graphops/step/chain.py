"""What every job of a step shares: queueing a tracking's next step (sealed as graphops' own), recording its
state after it, dead-lettering with a reason, and telling what the step did. The queue is the truth; the
state follows it."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError

from graphops.common.errors import QueueUnavailable
from graphops.common.logs import event
from graphops.common.telemetry import current_traceparent, instruments
from graphops.envelope.tracking import Tracking, iso, next_step
from graphops.storage.queues import MessageTooLarge, TrackingQueue
from graphops.storage.seal import NoKey, Seal
from graphops.storage.state import StateStore

AGAIN = "again"  # the state's property that keeps a tracking's request, enclosed, for an operator to track it again


@dataclass(frozen=True)
class StepResult:
    """What a step did, for the runner's view and the tests. The queue holds the real state."""

    tracking_id: str
    action: str  # "pollAgain", "wait", "delivered", "retryDelivery", "deadLettered", ...
    tracking: Tracking | None = None
    delay: int | None = None
    detail: str | None = None


class Chain:
    """Links one step of a tracking to the next."""

    def __init__(
        self, queue: TrackingQueue, seal: Seal | NoKey, state: StateStore | None, clock: Callable[[], datetime]
    ) -> None:
        self.queue = queue
        self.seal = seal  # every message graphops queues is sealed, and only sealed ones are taken as its own
        self.state = state
        self._clock = clock
        #: Called with the name of each point a host could die at ("beforeGraph", "afterGraph",
        #: "afterEnqueue", "afterDeliver", "beforeFirstStep"): a seam for fault tests, a no-op otherwise.
        self.checkpoint: Callable[[str], None] = lambda point: None

    def next(self, tracking: Tracking, delay: int, now: datetime) -> Tracking:
        """Queue the next step, then record it."""
        following = replace(next_step(tracking), step_span=current_traceparent(), due_at=now + timedelta(seconds=delay))
        self.queue.send(self.seal.seal(following.to_wire()), delay)
        self.checkpoint("afterEnqueue")
        self.record(following, now + timedelta(seconds=delay), now)
        return following

    def record(self, tracking: Tracking, next_poll_at: datetime | None, now: datetime, *, final: bool = False) -> None:
        if tracking.stateful and self.state is not None:
            # The request is kept once, when the row is first written (a merge keeps it after): a step that read
            # its state (it has a version) does not encrypt and write it again.
            extra = kept_request(self.seal, tracking) if not tracking.state_etag else None
            self.state.record(tracking, next_poll_at, now, final=final, standing=tracking.state_standing,
                              extra=extra)  # fmt: skip

    def own(self, tracking: Tracking) -> Tracking | None:
        """The tracking as the one step of it that may deliver (its state's new version), or None when another step
        of it came first (see :meth:`StateStore.own`)."""
        if not tracking.stateful or self.state is None:
            return tracking
        owned = self.state.own(tracking)
        if isinstance(owned, str):
            return replace(tracking, state_etag=owned)
        return tracking if owned else None

    def send_own(self, doc: dict[str, Any], delay: int) -> None:
        """Queue a message as graphops' own (a start's retry): sealed, so no producer can forge one."""
        self.queue.send(self.seal.seal(json.dumps(doc, separators=(",", ":"), ensure_ascii=False)), delay)

    def dead_letter(
        self, tracking_id: str, reason: str, field: str, original: str, *, host_keeps_oversized: bool = True
    ) -> None:
        """Write a dead letter: the reason, and the message to put back once the cause is fixed.

        One too large for a queue message with its reason either fails the step, so the host moves the message
        itself, intact (``host_keeps_oversized``: a producer's request, nothing recorded yet); or is written
        without the message (a finished tracking: its outcome is recorded, its sinks must not be asked again)."""
        event("deadLetter", level=logging.WARNING, trackingId=tracking_id, reason=reason, queue=self.queue.name)
        # By kind of reason and the field or setting at fault: few values, so a metric can count them.
        category = "rejected" if reason.startswith("rejected") else "undeliverable"
        instruments().dead_letters.add(1, {"graphops.reason": category, "graphops.field": field})
        record = {"deadLetter": 1, "reason": reason, "field": field, "trackingId": tracking_id,
                  "queue": self.queue.name, "at": iso(self._clock()), "original": original}  # fmt: skip
        try:
            # Sealed as graphops' own: whoever else can write to the poison queue, the console and the command
            # tell this dead letter from theirs, and never requeue theirs as graphops' own.
            self.queue.dead_letter(self.seal.sealed(record))
        except MessageTooLarge as exc:
            if host_keeps_oversized:
                raise QueueUnavailable(f"{reason}; too large to dead-letter with its reason ({exc}), "
                                       "the host will poison it") from exc  # fmt: skip
            event("deadLetterWithoutMessage", level=logging.WARNING, trackingId=tracking_id, size=str(exc))
            self.queue.dead_letter(self.seal.sealed({**record, "original": None,
                                                     "originalOmitted": f"too large: {exc}"}))  # fmt: skip


def again_of(tracking: Tracking) -> dict[str, Any] | None:
    """The producer's request that tracks the same operation, for the same sinks, again; None when there is no
    operation to poll (Graph finished it when graphops started it)."""
    if tracking.operation_url is None:
        return None
    doc: dict[str, Any] = {
        "operationUrl": tracking.operation_url,
        "callbackUrl": tracking.callback_url,
        "correlationId": tracking.correlation_id,
        "context": tracking.context,
        "select": list(tracking.select) or None,
        "notify": list(tracking.notify),
        "waitForResource": tracking.wait_for_resource or None,
        "timeoutSeconds": int((tracking.deadline - tracking.tracked_since).total_seconds()),
    }
    return {name: value for name, value in doc.items() if value is not None}


def kept_request(seal: Seal | NoKey, tracking: Tracking) -> dict[str, Any]:
    """What the state keeps so that an operator can track the operation again: the request, enclosed (its callback
    URL's query is a credential). Written with every record, so any step's row has it, whoever began the tracking."""
    request = again_of(tracking)
    if request is None or isinstance(seal, NoKey):
        return {}
    return {AGAIN: seal.enclose(request)}


def queue_first_step(
    queue: TrackingQueue,
    seal: Seal | NoKey,
    state: StateStore,
    tracking: Tracking,
    delay: int,
    *,
    extra: dict[str, Any] | None = None,
) -> None:
    """Queue a stateful tracking's first step, then write its state.

    In this order, a state row means the first step is queued: a retry that finds no state row queues it again
    under the same tracking id, and the step gate drops whichever first message the state does not name.
    Raises QueueUnavailable when the queue did not take it (nothing is written then).
    """
    queue.send(seal.seal(tracking.to_wire()), delay)
    try:
        state.create(tracking, {**kept_request(seal, tracking), **(extra or {})})
    except ResourceExistsError:
        pass  # a retry of this call, or the first step, wrote it first
    except AzureError as exc:
        logging.getLogger("graphops.state").warning("state not created for %s: %s", tracking.tracking_id,
                                                    type(exc).__name__)  # fmt: skip
