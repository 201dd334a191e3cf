"""The fast paths for batches (BatchValidator, typed decoding into columns) answer exactly as
validate_event, for any input."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metered.clock import now_seconds
from metered.errors import MeteredError
from metered.ingest import wire_batch
from metered.ingest.batches import validate_events
from metered.ingest.validation import BatchValidator, validate_event
from metered.ingest.wire_batch import Columns, decode_columns

from engine_harness import SharedHarness

harness = SharedHarness("metered-validator-")

_close_harness = harness.closing_fixture()


NOW = now_seconds()
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["", "0", "007", "12", "2.5", "1e3", "123456789012345", "1234567890123456",
                     "٣", "²", " 1", "-1", "NaN"]),
)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=2)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=2), max_leaves=4)


@st.composite
def raw_events(draw: st.DrawFn) -> Any:
    h = harness()
    if draw(st.integers(0, 20)) == 0:
        return draw(json_values)
    event: dict[str, Any] = {}
    name = draw(st.sampled_from(["ev_sum", "ev_max", "ev_count", "ev_unique_count", "nope", "",
                                 None, 3]))
    if name is not None:
        event["event_name"] = name
    identifier = draw(st.one_of(st.none(), st.text(max_size=8), st.just("x" * 256),
                                st.integers(), st.just("\ud800")))
    if identifier is not None:
        event["identifier"] = identifier
    ts = draw(st.one_of(st.none(), st.integers(NOW - 40 * 86_400, NOW + 600), st.booleans(),
                        st.just(str(NOW)), st.just("2026-01-01T00:00:00Z"), st.floats()))
    if ts is not None:
        event["timestamp"] = ts
    if draw(st.integers(0, 10)) == 0:
        event["payload"] = draw(json_values)
    else:
        payload: dict[str, Any] = {}
        customer = draw(st.one_of(st.sampled_from(h.customers_ids),  # type: ignore[attr-defined]
                                  st.just("cus_missing"), scalars))
        if customer is not None:
            payload["stripe_customer_id"] = customer
        for key in ("value", "model", "region"):
            value = draw(st.one_of(scalars, st.just("x" * 201), json_values))
            if value is not None:
                payload[key] = value
        event["payload"] = payload
    return event


def outcome(fn: Any, raw: Any) -> Any:
    try:
        return ("ok", fn(raw))
    except MeteredError as exc:
        return ("error", exc.code, exc.message, exc.param)
    except Exception as exc:  # noqa: BLE001 - the same exception type is what is compared
        return ("raised", type(exc))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=raw_events())
def test_fast_path_answers_as_validate_event(raw: Any) -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    validator = BatchValidator(h.caller, ctx, NOW)
    fast = outcome(validator, raw)
    slow = outcome(lambda r: validate_event(r, h.caller, ctx, NOW), raw)
    if fast[0] == "ok" and slow[0] == "ok" and raw.get("identifier") in (None, ""):
        # A generated identifier is random (and so is the key): compare everything else.
        for event in (fast[1], slow[1]):
            event.identifier, event.key = "generated", b""
    assert fast == slow


def test_fast_path_is_taken_for_well_typed_events() -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    validator = BatchValidator(h.caller, ctx, NOW)
    raw = {"event_name": "ev_sum", "identifier": "a1", "timestamp": NOW - 5,
           "payload": {"stripe_customer_id": h.customers_ids[0],  # type: ignore[attr-defined]
                       "value": "0042", "model": "gpt", "region": "eu"}}
    fast = validator._fast(raw)
    assert fast is not None
    assert fast == validate_event(raw, h.caller, ctx, NOW)
    assert (fast.value, fast.scaled, fast.dims) == ("42", 42 * 10**12, '["gpt","eu"]')


def _typed_envelope(raw: Any) -> Any:
    """The event with envelope fields of the types the typed batch decoder takes (or absent)."""
    if not isinstance(raw, dict):
        return raw
    event = dict(raw)
    for name, types in (("event_name", str), ("identifier", str), ("timestamp", int)):
        if name in event and (not isinstance(event[name], types) or isinstance(event[name], bool)
                              or (name == "timestamp" and not -(2**63) <= event[name] < 2**63)):
            del event[name]
    return event


def _comparable(columns: Columns, raw: list[Any]) -> dict[str, Any]:
    """The columns, with generated identifiers (random, and so are their keys) masked and the
    payloads decoded (the typed path keeps the text as sent)."""
    out = {name: list(getattr(columns, name)) for name in Columns.__dataclass_fields__}
    for i, position in enumerate(columns.positions):
        if raw[position].get("identifier") in (None, ""):
            out["identifier"][i], out["keys"][i] = "generated", b""
    out["payload"] = [json.loads(p) for p in out["payload"]]
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(raw_events(), min_size=1, max_size=8), typed=st.booleans(),
       indent=st.sampled_from([None, 2]))
def test_typed_batch_decoding_answers_as_validate_events(batch: list[Any], typed: bool,
                                                         indent: int | None) -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    if typed:
        batch = [_typed_envelope(raw) for raw in batch]
    body = json.dumps(batch, indent=indent).encode()
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:  # NaN or a lone surrogate: not JSON, refused by both paths
        assert decode_columns(body, h.caller, ctx, NOW) is None
        return
    typed_columns = decode_columns(body, h.caller, ctx, NOW)
    if typed and all(isinstance(raw, dict) for raw in batch):
        assert typed_columns is not None
    if typed_columns is None:
        return
    expected = Columns.of(*validate_events(decoded, h.caller, ctx, NOW))
    assert _comparable(typed_columns, decoded) == _comparable(expected, decoded)


def test_clean_batch_is_decoded_without_the_general_validator(monkeypatch: Any) -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    batch = [{"event_name": "ev_sum", "identifier": f"w{i}", "timestamp": NOW - i,
              "payload": {"stripe_customer_id": h.customers_ids[i % 2],  # type: ignore[attr-defined]
                          "value": str(i), "model": "gpt", "region": None, "extra": [1, {}]}}
             for i in range(20)]
    batch += [{"event_name": "ev_count", "identifier": "c1",
               "payload": {"stripe_customer_id": h.customers_ids[0]}}]  # type: ignore[attr-defined]

    def general(*args: Any) -> Any:
        raise AssertionError("the general validator was called")

    monkeypatch.setattr(wire_batch, "validate_raw", general)
    columns = decode_columns(json.dumps(batch).encode(), h.caller, ctx, NOW)
    assert columns is not None and columns.positions == list(range(21))
    assert columns.value[:3] == ["0", "1", "2"] and columns.value[20] == ""
    assert columns.scaled_lo[2] + (columns.scaled_hi[2] << 40) == 2 * 10**12
    assert json.loads(columns.payload[0])["extra"] == [1, {}]


def test_typed_decoding_refuses_what_it_cannot_type() -> None:
    h = harness()
    ctx = h.engine.ingest_context()
    for body in (b"", b"[]", b'{"events": 3}', b'[{"event_name": "ev_sum", "timestamp": "1"}]',
                 b"[1]", b'"x"', json.dumps([{}] * 10_001).encode()):
        assert decode_columns(body, h.caller, ctx, NOW) is None, body
