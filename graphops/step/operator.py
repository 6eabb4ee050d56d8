"""What an operator does to a tracking: cancel it, or track it again. One path each, whichever surface asks (the
API's DELETE, ``graphops cancel``/``retrack``, the console's buttons).

Tracking again needs what the state row does not show: the operation URL with its query and the callback URL, whose
query is a credential (Logic Apps' ``sig=``). Every step keeps them in the row enclosed (:meth:`Seal.enclose`:
encrypted with a key derived from the envelope key), so a reader of the table sees nothing of them.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from graphops.common.errors import Rejected
from graphops.common.logs import event
from graphops.envelope.tracking import Outcome, Phase
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.step.chain import AGAIN, queue_first_step
from graphops.storage.queues import TrackingQueue
from graphops.storage.seal import NoKey, Seal
from graphops.storage.state import StateStore

RETRACK_OF = "retrackOf"  # on a tracking made by tracking another again: that one's id
RETRACKED_AS = "retrackedAs"  # on the one tracked again: the new tracking's id
# Outcomes that tracking again cannot change: the operation ended well, or the request was never valid.
FINAL = frozenset({Outcome.SUCCEEDED, Outcome.PARTIALLY_SUCCEEDED, Outcome.REJECTED})


def retrack_refusal(tracking_id: str, entity: dict[str, Any]) -> str | None:
    """Why this tracking cannot be tracked again (it still runs, it ended well, it was already); None when it can."""
    again = entity.get(RETRACKED_AS)
    if again:
        return f"{tracking_id} was already tracked again, as {again}"
    if entity.get("phase") != Phase.DONE:
        return f"{tracking_id} is still {entity.get('phase') or 'running'}: cancel it first, or wait for its outcome"
    if entity.get("outcome") in FINAL:
        return f"{tracking_id} ended {entity.get('outcome')}: tracking it again would find the same"
    return None


def cancel(state: StateStore, tracking_id: str, now: datetime) -> dict[str, Any] | None:
    """Mark a tracking cancelled (idempotent): its state, or None when it is not recorded here."""
    entity = state.cancel(tracking_id, now)
    if entity is not None:
        event("cancelled", trackingId=tracking_id)
    return entity


def retrack(
    state: StateStore, queue: TrackingQueue, seal: Seal | NoKey, limits: Limits, tracking_id: str, now: datetime
) -> str:
    """Track a finished tracking's operation again, for the same callback and sinks, as a new tracking linked to it
    both ways. Returns the new tracking's id. Raises :class:`Rejected` naming ``trackingId`` when it cannot."""
    entity = state.read(tracking_id)
    if entity is None:
        raise Rejected("trackingId", f"{tracking_id} is not recorded here")
    why = retrack_refusal(tracking_id, entity)
    if why is not None:
        raise Rejected("trackingId", why)
    kept = entity.get(AGAIN)
    request = seal.disclose(kept) if isinstance(kept, str) and kept else None
    if request is None:
        raise Rejected(
            "trackingId",
            f"graphops kept no request to track {tracking_id} again (recorded by an "
            "earlier version, or under another GRAPHOPS_ENVELOPE_KEY): `graphops track` its operation anew",
        )
    new_id = str(uuid.uuid4())
    tracking = replace(from_request(request, new_id, now, limits), stateful=True)
    queue_first_step(queue, seal, state, tracking, 0, extra={RETRACK_OF: tracking_id, AGAIN: kept})
    state.note(tracking_id, **{RETRACKED_AS: new_id})
    event("retracked", trackingId=tracking_id, newTrackingId=new_id)
    return new_id
