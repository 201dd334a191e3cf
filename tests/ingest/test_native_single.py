"""The single-event fast path's native validation (ingest.native_single) against validate_event.

Whatever form-encoded event the extension takes, it must make the event validate_event makes
(the same dedupe key, customer, dimensions, timestamp, value and payload JSON) and the route's
answer byte for byte; whatever it cannot take, it must leave to validate_event (None).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import event as event_note
from hypothesis import strategies as st

from metered import native
from metered.api.http import encode_json
from metered.api.routes.meter_events import meter_event_v1
from metered.clock import now_seconds
from metered.errors import MeteredError
from metered.ingest.native_single import native_event
from metered.ingest.validation import IngestContext, validate_event

from engine_harness import SharedHarness

harness = SharedHarness("metered-single-")

_close_harness = harness.closing_fixture()

NOW = now_seconds()


def context() -> IngestContext:
    h = harness()
    return IngestContext(meters=h.engine.meters, customers=h.engine.customers,
                         reader=h.engine.reader())


def read(form: list[tuple[str, str]]) -> tuple[bytes, dict[str, Any]] | None:
    """The body and the fields the fast path's reader makes of it (None: it does not take it)."""
    assert native.extension is not None  # `make install-test` builds it
    body = urlencode(form).encode()
    head = (b"POST /v1/billing/meter_events HTTP/1.1\r\nauthorization: Bearer k\r\n"
            b"content-type: application/x-www-form-urlencoded\r\ncontent-length: %d\r\n\r\n"
            % len(body))
    request = native.extension.meter_event_request(head + body)
    return None if request is None else (body, request[4])


def both(form: list[tuple[str, str]], ctx: IngestContext) -> tuple[Any, Any]:
    """(native_event's outcome, validate_event's event or error) for one form."""
    got = read(form)
    if got is None:
        return None, None
    body, fields = got
    h = harness()
    try:
        python: Any = validate_event(fields, h.caller, ctx, NOW)
    except MeteredError as exc:
        python = exc
    return native_event(body, fields, h.caller, ctx, NOW), python


def test_a_plain_event_is_taken_and_answered_as_the_route_answers() -> None:
    h = harness()
    customer = h.customers_ids[0]  # type: ignore[attr-defined]
    form = [("event_name", "ev_sum"), ("identifier", "e-1"), ("timestamp", str(NOW - 5)),
            ("payload[stripe_customer_id]", customer), ("payload[value]", "0042"),
            ("payload[model]", "gpt-4o")]
    taken, python = both(form, context())
    assert taken is not None
    event, answer = taken
    assert event == python and event.value == "42" and event.dims == '["gpt-4o",null]'
    payload = dict(read(form)[1]["payload"])  # type: ignore[index]
    assert answer == encode_json(meter_event_v1(python, payload, NOW))


texts = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["gpt-4o", "é", "日本", 'a"b', "back\\slash", "tab\there", "\x7f", "\u2028",
                     "x" * 200, "x" * 201, "y" * 255, "y" * 256, "", "😀" * 3, "a&b=c", "+ %"]),
)
values = st.one_of(st.sampled_from(["0", "007", "12", "000", "123456789012345",
                                    "1234567890123456", "2.5", "1e3", "٣", " 1", "", "-0",
                                    "-3"]), texts)


@st.composite
def forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    h = harness()
    form = [("event_name", draw(st.sampled_from(
        ["ev_sum"] * 6 + ["ev_max", "ev_count", "ev_unique_count", "nope", ""])))]
    if draw(st.integers(0, 15)):
        form.append(("identifier", draw(st.one_of(
            st.from_regex(r"[a-z0-9_-]{1,12}", fullmatch=True), st.text(min_size=1, max_size=10),
            texts))))
    if draw(st.integers(0, 3)):
        ts = draw(st.one_of(st.integers(NOW - 36 * 86_400, NOW + 400),
                            st.sampled_from([NOW - 35 * 86_400, NOW + 300, NOW + 301])))
        form.append(("timestamp", draw(st.sampled_from([str(ts)] * 4 + [
            f"00{ts}", "", "-1", "x", "2026-11-26T00:00:00Z"]))))
    if draw(st.integers(0, 15)):
        ids = h.customers_ids  # type: ignore[attr-defined]
        form.append(("payload[stripe_customer_id]",
                     draw(st.sampled_from([*ids, *ids, *ids, "cus_missing", ""]))))
    if draw(st.integers(0, 10)):
        form.append(("payload[value]", draw(st.one_of(st.integers(0, 10**6).map(str), values))))
    for key in ("model", "region", "extra"):
        if draw(st.booleans()):
            value = draw(st.one_of(st.sampled_from(["a", "b", "é"]), texts))
            form.append((f"payload[{key}]", value))
    return draw(st.permutations(form))


@st.composite
def plain_forms(draw: st.DrawFn) -> list[tuple[str, str]]:
    """Mostly valid events at the edges the extension must judge as validate_event does."""
    ids = harness().customers_ids  # type: ignore[attr-defined]
    form = [("event_name", draw(st.sampled_from(["ev_sum", "ev_max", "ev_count"]))),
            ("identifier", draw(st.one_of(st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
                                          st.sampled_from(["é" * 255, "é" * 256, "日本",
                                                           "y" * 255, "id with space"])))),
            ("payload[stripe_customer_id]", draw(st.sampled_from(ids)))]
    if draw(st.integers(0, 4)):
        form.append(("timestamp", str(draw(st.sampled_from(
            [NOW, NOW - 35 * 86_400, NOW - 35 * 86_400 - 1, NOW + 300, NOW + 301, NOW - 7])))))
    if draw(st.integers(0, 6)):
        form.append(("payload[value]", draw(st.sampled_from(
            ["0", "007", "5", "999999999999999", "1000000000000000", "1.5", "٣"]))))
    for key in ("model", "region", "extra"):
        if draw(st.booleans()):
            form.append((f"payload[{key}]", draw(st.sampled_from(
                ["a", "é", "日本", "x" * 200, "é" * 200, "x" * 201, "", "1"]))))
    return draw(st.permutations(form))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(form=st.one_of(forms(), plain_forms()))
def test_native_validation_is_validate_event_s(form: list[tuple[str, str]]) -> None:
    ctx = context()
    taken, python = both(form, ctx)
    event_note("taken" if taken is not None else "left to validate_event")
    if taken is None:
        return
    event, answer = taken
    assert not isinstance(python, MeteredError), python
    assert event == python
    payload = dict(read(form)[1].get("payload", {}))  # type: ignore[index]
    assert answer == encode_json(meter_event_v1(python, payload, NOW))
    again, _ = both(form, ctx)  # the customer now known: the same event
    assert again is not None and again[0] == event
