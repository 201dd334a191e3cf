"""The background sender's batches (pure): encoded whole, an event that can't be encoded
refused alone, and answers read for their counts and refusals, checked against what was sent."""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pytest

from metered.client.queued_events import (
    AnswerError,
    QueuedEvent,
    Refusal,
    encode_batch,
    read_answer,
)


def test_a_batch_encodes_as_the_endpoint_takes_it() -> None:
    batch = [QueuedEvent("tokens", "id-1", {"value": Decimal("1.5"), "model": "m"}),
             QueuedEvent("tokens", "id-2", {"value": 3}, 1_700_000_000)]
    encoded = encode_batch(batch)
    assert encoded.positions is None and encoded.unencodable == []
    assert msgspec.json.decode(encoded.body) == [
        {"event_name": "tokens", "identifier": "id-1", "payload": {"value": "1.5", "model": "m"}},
        {"event_name": "tokens", "identifier": "id-2", "payload": {"value": 3},
         "timestamp": 1_700_000_000}]
    assert batch[1].as_dict() == {"event_name": "tokens", "identifier": "id-2",
                                  "payload": {"value": 3}, "timestamp": 1_700_000_000}


def test_an_event_that_cannot_be_encoded_is_refused_alone() -> None:
    batch = [QueuedEvent("tokens", "a", {"value": 1}), QueuedEvent("tokens", "b", {"x": object()}),
             QueuedEvent("tokens", "c", {"value": 2})]
    encoded = encode_batch(batch)
    assert encoded.positions == [0, 2]
    assert [e["identifier"] for e in msgspec.json.decode(encoded.body)] == ["a", "c"]
    assert [(r.index, r.code) for r in encoded.unencodable] == [(1, "payload_not_encodable")]


def test_answers_give_counts_and_refusals() -> None:
    body = (b'{"object":"metered.event_batch","accepted":1,"duplicate":1,"rejected":1,"results":['
            b'{"index":0,"identifier":"a","status":"accepted"},'
            b'{"index":1,"identifier":"b","status":"rejected","error":{"code":"no_meter",'
            b'"message":"No meter."}},{"index":2,"identifier":"c","status":"duplicate"}]}')
    assert read_answer(body, 3) == (1, 1, [Refusal(1, "no_meter", "No meter.")])
    all_in = b'{"accepted":2,"duplicate":0,"rejected":0,"results":[{"not":"read"}]}'
    assert read_answer(all_in, 2) == (2, 0, [])


@pytest.mark.parametrize("body", [
    b'{"accepted":2,"duplicate":0,"rejected":0,"results":[]}',  # counts for 2 of 3
    b'{"accepted":2,"duplicate":0,"rejected":1,"results":[]}',  # the refusal not listed
    b'{"accepted":2,"duplicate":0,"rejected":1,"results":[{"index":7,"identifier":null,'
    b'"status":"rejected"}]}',  # an index beyond the batch
    b'{"accepted":"3"}', b"<html>", b"[]",
])
def test_an_answer_that_does_not_fit_the_batch_is_an_error(body: bytes) -> None:
    with pytest.raises(AnswerError):
        read_answer(body, 3)
