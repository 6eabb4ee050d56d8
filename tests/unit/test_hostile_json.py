"""JSON that parses, at any depth and any number size, gets an answer naming the field: never a crash."""

from __future__ import annotations

import base64
import json

import pytest

from graphops.common.errors import Rejected
from graphops.common.json_text import MAX_DEPTH, NOT_JSON, json_problems, plainly_carried, read_json
from graphops.envelope.wire import parse_body
from graphops.graph.answer import GraphAnswer
from graphops.intake.request import REQUEST_FIELDS
from graphops.local import seed
from graphops.storage.poison import entry_from, redact_callbacks, revived

from .test_step import CALLBACK, StubDeliverer, StubGraph, StubQueue, tracker

REQUEST = json.dumps({"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK})
START = json.dumps({"start": {"method": "POST", "url": f"/v1.0/teams/{seed.TEAM_ID}/clone", "body": {}},
                    "callbackUrl": CALLBACK})  # fmt: skip


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def with_field(doc: str, name: str, value: str) -> str:
    """``doc`` (a JSON object's text) with ``name`` set to the raw JSON text ``value``, as a producer could write."""
    return doc[:-1] + f', "{name}": {value}}}'


# Depth that json.loads accepts but a later recursive walk chokes on, depth it refuses itself, and numbers
# it cannot read or that json.dumps writes as something no receiver reads as JSON.
HOSTILE = {
    "deep, but parsed": nested(900),
    "deeper than the parser goes": nested(5000),
    "a 5000-digit whole number": "9" * 5000,
    "1e400": "1e400",
    "-1e400": "-1e400",
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("name", sorted(REQUEST_FIELDS))
def test_every_request_field_holding_it_is_refused_naming_the_field(name: str, value: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_body(with_field(REQUEST, name, value).encode())
    assert refused.value.field == name


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_inside_context_it_is_refused_naming_context(value: str) -> None:
    with pytest.raises(Rejected) as refused:
        read_json(with_field(REQUEST, "context", '{"run": {"items": [1, ' + value + "]}}"), "body")
    assert refused.value.field == "context"


def test_a_document_nested_100000_deep_is_refused_as_a_whole() -> None:
    with pytest.raises(Rejected, match=f"nested deeper than {MAX_DEPTH} levels") as refused:
        read_json(nested(100_000), "message")
    assert refused.value.field == "message"


def test_what_json_allows_and_graphops_carries_is_read_as_json_reads_it() -> None:
    text = json.dumps({
        "context": {"deep": json.loads(nested(MAX_DEPTH - 2)), "brackets": "[[[{{{", "quote": '"[', "big": 10**4299},
        "timeoutSeconds": -0, "small": 1e-400, "float": -0.0, "long float": float("1." + "1" * 5000),
    })  # fmt: skip
    assert json_problems(text, "body") == []
    assert read_json(text, "body") == json.loads(text)


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("place", ["[{}]", '{{"a": {}}}', '{{"a": [1,{}]}}', "{}", '{{"a":\n\t{}}}'])
def test_text_holding_any_of_it_is_scanned_whatever_its_place(value: str, place: str) -> None:
    assert not plainly_carried(place.format(value))
    for number in ("1E+400", "-2.5e308", "1" * 200 + ".5", "1e0400"):
        assert not plainly_carried(place.format(number))


def test_the_envelopes_graphops_writes_are_plainly_carried_and_parsed_without_the_scan() -> None:
    queue = StubQueue()
    tracker(StubGraph(GraphAnswer(200, seed.alert_refresh("running"))), queue, StubDeliverer()).handle(
        REQUEST.encode(), "m1"
    )
    [(text, _)] = queue.sent
    hexes = json.dumps({"ids": ["9e123", "0e400", "ab1e999f"], "small": [1e-300, 1.5e99, 10**198]})
    assert plainly_carried(text) and plainly_carried(hexes) and read_json(hexes, "body") == json.loads(hexes)


def test_text_that_is_not_json_still_names_what_the_scan_finds_in_it() -> None:
    for text, problem in (('{"a" 1e400}', "a number too large"), ('{"a": 1e400', "a number too large"),
                          ('{"a": [NaN}', "NaN is not"), ('{"a": 1', NOT_JSON)):  # fmt: skip
        with pytest.raises(Rejected, match=problem):
            read_json(text, "body")


def test_each_field_is_named_once_in_the_order_met() -> None:
    text = f'{{"a": [NaN, 1e400], "b": {nested(MAX_DEPTH)}, "c": 1, "d": {"1" * 4301}}}'
    assert [(p.field, p.problem) for p in json_problems(text, "body")] == [
        ("a", "NaN is not a JSON number"),
        ("b", f"nested deeper than {MAX_DEPTH} levels"),
        ("d", "a whole number of 4301 digits; at most 4300 are read"),
    ]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("message", [REQUEST, START], ids=["request", "start"])
def test_the_step_dead_letters_such_a_message_with_the_field_named(message: str, value: str) -> None:
    queue = StubQueue()
    field = "context" if message is REQUEST else "start"
    text = with_field(message, "context", value) if message is REQUEST else message.replace("{}", value, 1)
    result = tracker(StubGraph(), queue, StubDeliverer()).handle(text.encode(), "m1")
    [dead] = queue.dead
    assert (
        result.action == "deadLettered" and dead["field"] == field and dead["reason"].startswith(f"rejected: {field}:")
    )


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_poison_entry_holding_it_is_shown_as_text(value: str) -> None:
    original = with_field(REQUEST, "context", value)
    content = base64.b64encode(original.encode()).decode()
    entry = entry_from("m1", None, content, seal=None)  # the host's copy
    assert entry.document is None and entry.unrequeueable is not None
    assert revived(entry) == original and redact_callbacks(original) == original.replace("cb?sig=s", "cb?…")
