"""Batch preparation (pure): identifiers before sending, chunks within the server's limits."""

from __future__ import annotations

import msgspec

from metered.client import EventIn
from metered.client.batching import chunk_events, prepare_events, with_identifier


def test_identifiers_are_assigned_once_and_kept() -> None:
    given = EventIn(event_name="e", payload={}, identifier="mine")
    assert with_identifier(given) is given
    fresh = with_identifier(EventIn(event_name="e", payload={}))
    assert isinstance(fresh, EventIn) and fresh.identifier
    as_dict = with_identifier({"event_name": "e", "payload": {}, "identifier": None})
    assert isinstance(as_dict, dict) and as_dict["identifier"]
    prepared = prepare_events([{"event_name": "e", "payload": {}}] * 3)
    assert len({e["identifier"] for e in prepared}) == 3  # type: ignore[index]
    assert prepare_events(prepared) == prepared


def test_chunks_respect_count_and_size() -> None:
    events = [{"event_name": "e", "payload": {"n": i}} for i in range(25)]
    chunks = list(chunk_events(events, max_events=10))
    assert [(c.first_index, c.count) for c in chunks] == [(0, 10), (10, 10), (20, 5)]
    decoded = [e for c in chunks for e in msgspec.json.decode(c.body)]
    assert [e["payload"]["n"] for e in decoded] == list(range(25))
    assert all(e["identifier"] for e in decoded)

    small = list(chunk_events(events, max_bytes=200))
    assert all(len(c.body) <= 200 for c in small) and sum(c.count for c in small) == 25
    huge = [{"event_name": "e", "payload": {"blob": "x" * 500}}]
    assert [c.count for c in chunk_events(huge, max_bytes=100)] == [1]  # sent alone anyway
    assert list(chunk_events([])) == []
