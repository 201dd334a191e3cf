"""The native fast path (metered_native, ingest.native_batch) against the Python path.

Whatever batch the extension takes, the parse worker's answer must be the Python path's, byte
for byte: the same dedupe keys, columns, dimension table, segment blobs, cells and answer.
Whatever it cannot take, it must leave to the Python path (None), never answer differently.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metered.clock import now_seconds
from metered.ingest import native_batch
from metered.ingest.parse_pool import ParsedBatch, parse_to_columns
from metered.ingest.validation import IngestContext

from engine_harness import SharedHarness

harness = SharedHarness("metered-native-")

_close_harness = harness.closing_fixture()


NOW = now_seconds()


def test_the_extension_is_installed() -> None:
    """`make install-test` builds it: the suite must exercise the path production takes."""
    assert native_batch.available()


def parse(body: bytes, *, native: bool, monkeypatch: pytest.MonkeyPatch | None = None,
          ctx: Any = None) -> ParsedBatch:
    h = harness()
    ctx = ctx if ctx is not None else h.engine.ingest_context()
    module = native_batch.metered_native
    if not native:
        native_batch.metered_native = None
    try:
        return parse_to_columns(body, "application/json", h.caller, NOW, ctx, "req_1")
    finally:
        native_batch.metered_native = module


texts = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["gpt-4o", "é", "日本", "a\"b", "back\\slash", "tab\there", "\x7f", "\u2028",
                     "x" * 200, "x" * 201, "y" * 255, "y" * 256, "", "😀" * 3]),
)
values = st.one_of(
    st.integers(0, 10**15 + 5), st.integers(-3, -1),
    st.sampled_from(["0", "007", "12", "000", "123456789012345", "1234567890123456", "2.5",
                     "1e3", "٣", " 1", "", "-0"]),
    st.none(), st.floats(0, 10, allow_nan=False), st.booleans(),
)


@st.composite
def events(draw: st.DrawFn) -> Any:
    h = harness()
    name = draw(st.sampled_from(["ev_sum"] * 6 + ["ev_max", "ev_count", "ev_unique_count",
                                                  "nope"]))
    event: dict[str, Any] = {"event_name": name}
    if draw(st.integers(0, 15)):
        event["identifier"] = draw(st.one_of(st.text(min_size=1, max_size=10), texts))
    ts = draw(st.one_of(st.none(), st.integers(NOW - 36 * 86_400, NOW + 400),
                        st.just(NOW - 35 * 86_400), st.just(NOW + 300)))
    if ts is not None:
        event["timestamp"] = ts
    payload: dict[str, Any] = {}
    if draw(st.integers(0, 15)):
        payload["stripe_customer_id"] = draw(st.one_of(
            st.sampled_from(h.customers_ids), st.just("cus_missing"), st.just(""),  # type: ignore[attr-defined]
            st.none()))
    if draw(st.integers(0, 10)):
        payload["value"] = draw(values)
    for key in ("model", "region"):
        if draw(st.booleans()):
            payload[key] = draw(st.one_of(texts, st.none(), st.just(3)))
    if draw(st.integers(0, 5)) == 0:
        payload["extra"] = draw(st.one_of(st.lists(st.integers(), max_size=3), texts,
                                          st.just("z" * 600)))
    event["payload"] = payload
    if draw(st.integers(0, 20)) == 0:
        event["unknown_envelope_key"] = [1, {"a": None}]
    return event


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(events(), min_size=1, max_size=12), wrapped=st.booleans(),
       indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_native_answers_exactly_as_the_python_path(batch: list[Any], wrapped: bool,
                                                   indent: int | None, ascii_only: bool) -> None:
    body = json.dumps({"events": batch} if wrapped else batch, indent=indent,
                      ensure_ascii=ascii_only).encode()
    python = parse(body, native=False)
    h = harness()
    ctx = h.engine.ingest_context()
    took = native_batch.native_columns(body, h.caller, ctx, NOW)
    native = parse(body, native=True, ctx=ctx)
    if took is None:
        return
    assert python.error is None and not python.rejected  # it took only all-valid batches
    for field in ParsedBatch.__struct_fields__:
        assert getattr(native, field) == getattr(python, field), field


def plain_event(i: int, customer: str, **payload: Any) -> dict[str, Any]:
    return {"event_name": "ev_sum", "identifier": f"id-{i}", "timestamp": NOW - i,
            "payload": {"stripe_customer_id": customer, "value": str(i), "model": "m",
                        **payload}}


def test_plain_batches_are_taken() -> None:
    h = harness()
    # A context of its own: the engine's (kept per thread) remembers other tests' names.
    ctx = IngestContext(meters=h.engine.meters, customers=h.engine.customers,
                        reader=h.engine.reader())
    ids = h.customers_ids  # type: ignore[attr-defined]
    batch = [plain_event(i, ids[i % 3]) for i in range(50)]
    batch.append({"event_name": "ev_count", "identifier": "c", "payload": {
        "stripe_customer_id": ids[0], "value": "k" * 300}})
    batch.append({"event_name": "ev_max", "identifier": "m", "timestamp": None, "payload": {
        "stripe_customer_id": ids[1], "value": 7, "region": None}})
    body = json.dumps(batch).encode()
    taken = native_batch.native_columns(body, h.caller, ctx, NOW)
    assert taken is not None and len(taken.keys) == 52
    plans, customers = ctx.native[(h.caller.account_pk, h.caller.livemode)]
    assert set(plans) == {"ev_sum", "ev_count", "ev_max"} and set(customers) == set(ids)
    assert json.loads(taken.answer)["accepted"] == 52


@pytest.mark.parametrize("body", [
    b"\xff[]",
    b'[{"event_name": "ev_sum", "identifier": "a", "payload": {"value": NaN}}]',
    json.dumps([{"event_name": "ev_unique_count", "identifier": "u", "payload": {}}]).encode(),
    json.dumps([{"event_name": "ev_sum", "identifier": "a", "payload": {
        "stripe_customer_id": "cus_missing", "value": 1}}]).encode(),
    b'[{"event_name": "ev_sum", "identifier": "a", "payload": {"stripe_customer_id": "x",'
    b' "stripe_customer_id": "y", "value": 1}}]',
    b'[{"event_name": "ev_sum", "identifier": "\\ud800", "payload": {}}]',
    b"[]",
    b'{"events": 3}',
])
def test_what_it_cannot_take_goes_to_the_python_path(body: bytes) -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    assert native_batch.native_columns(body, h.caller, ctx, NOW) is None
    assert parse(body, native=True) == parse(body, native=False)


def test_an_unknown_customer_is_not_remembered() -> None:
    """It may be created a moment later: the next batch must find it."""
    h = harness()
    ctx = h.engine.ingest_context()
    body = json.dumps([plain_event(1, "cus_later")]).encode()
    assert native_batch.native_columns(body, h.caller, ctx, NOW) is None
    _, customers = ctx.native[(h.caller.account_pk, h.caller.livemode)]
    assert "cus_later" not in customers


def test_a_dimension_value_needing_escapes_is_left_to_python() -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    ids = h.customers_ids  # type: ignore[attr-defined]
    body = json.dumps([plain_event(1, ids[0], model='say "hi"')]).encode()
    assert native_batch.native_columns(body, h.caller, ctx, NOW) is None
    python = parse(body, native=False)
    assert python.dims_table == [(python.dims_table[0][0], '["say \\"hi\\"",null]')]


plain_texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'),
                      min_size=1, max_size=20).filter(lambda s: all(ord(c) >= 0x20 for c in s))


@st.composite
def plain_events(draw: st.DrawFn) -> Any:
    """Events the extension must take: every check passes (identifiers may need escapes)."""
    h = harness()
    name = draw(st.sampled_from(["ev_sum", "ev_max", "ev_count"]))
    payload: dict[str, Any] = {
        "stripe_customer_id": draw(st.sampled_from(h.customers_ids)),  # type: ignore[attr-defined]
    }
    if name != "ev_count":
        payload["value"] = draw(st.one_of(st.integers(0, 10**15 - 1),
                                          st.from_regex(r"\A[0-9]{1,15}\Z")))
    elif draw(st.booleans()):
        payload["value"] = draw(st.one_of(st.text(max_size=300), st.none()))
    for key in ("model", "region"):
        if draw(st.booleans()):
            payload[key] = draw(st.one_of(plain_texts, st.none()))
    if draw(st.booleans()):
        payload["extra"] = draw(st.one_of(st.integers(), st.text(max_size=30),
                                          st.lists(st.booleans(), max_size=3)))
    event: dict[str, Any] = {"event_name": name, "identifier": draw(st.text(min_size=1,
                                                                             max_size=40).filter(
        lambda s: not any(0xD800 <= ord(c) < 0xE000 for c in s))), "payload": payload}
    if draw(st.booleans()):
        event["timestamp"] = draw(st.one_of(st.none(), st.integers(NOW - 35 * 86_400,
                                                                    NOW + 300)))
    return event


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(plain_events(), min_size=1, max_size=12), wrapped=st.booleans(),
       indent=st.sampled_from([None, 1]), ascii_only=st.booleans())
def test_plain_batches_are_taken_and_answered_exactly(batch: list[Any], wrapped: bool,
                                                      indent: int | None,
                                                      ascii_only: bool) -> None:
    body = json.dumps({"events": batch} if wrapped else batch, indent=indent,
                      ensure_ascii=ascii_only).encode()
    h = harness()
    assert native_batch.native_columns(body, h.caller, h.engine.ingest_context(), NOW)
    native, python = parse(body, native=True), parse(body, native=False)
    assert not python.rejected
    for field in ParsedBatch.__struct_fields__:
        assert getattr(native, field) == getattr(python, field), field
