"""NDJSON files of events: byte-faithful lines, identifiers before sending, every line
accounted for by number, constant memory, and how far a failed send got."""

from __future__ import annotations

import io
import json
import time
from decimal import Decimal

import msgspec
import pytest

from metered.client import APIError, Client
from metered.client.ndjson import LineRejection, NdjsonResult, parse_line, read_batches

from .conftest import FAIL_503, FORWARD, FaultProxy


def test_lines_keep_their_json_text() -> None:
    event = parse_line(1, b'{"event_name": "e", "payload": {"value": 1.10, "n": 1e3}}\n')
    assert isinstance(event, dict) and isinstance(event["identifier"], str)
    assert b'{"value": 1.10, "n": 1e3}' in msgspec.json.encode(event)
    kept = parse_line(2, b'{"event_name": "e", "identifier": "mine", "payload": {}}')
    assert isinstance(kept, dict) and bytes(kept["identifier"]) == b'"mine"'  # type: ignore[arg-type]
    null = parse_line(3, b'{"event_name": "e", "identifier": null, "payload": {}}')
    assert isinstance(null, dict) and isinstance(null["identifier"], str)


@pytest.mark.parametrize(("line", "code"), [(b"{oops", "parameter_invalid_json"),
                                            (b"[1, 2]", "parameter_invalid"),
                                            (b'"text"', "parameter_invalid")])
def test_unreadable_lines_are_rejected_with_their_number(line: bytes, code: str) -> None:
    rejection = parse_line(7, line)
    assert isinstance(rejection, LineRejection)
    assert (rejection.line, rejection.code) == (7, code)
    assert str(rejection).startswith(f"line 7: {code}: ")


def test_batches_follow_line_numbers() -> None:
    lines = [b'{"event_name": "e", "payload": {}}'] * 5
    lines[1] = b""
    lines[3] = b"not json"
    source = io.BytesIO(b"\n".join(lines) + b"\n")
    batches = list(read_batches(source, batch_size=2))
    assert [(b.lines, [r.line for r in b.unreadable]) for b in batches] == [
        ([1, 3], []), ([5], [4])]
    assert batches[-1].end_offset == len(source.getvalue())


def test_send_ndjson_accounts_for_every_line(client: Client) -> None:
    customer = client.customers.create(name="file").id
    meter = client.meters.create(display_name="Tokens", event_name="tokens")
    lines = [json.dumps({"event_name": "tokens", "identifier": f"e{i}",
                         "payload": {"stripe_customer_id": customer, "value": "0.1"}})
             for i in range(30)]
    lines[4] = json.dumps({"event_name": "tokens", "payload": {"value": "1"}})  # no customer
    lines[9] = "{"
    lines[20] = lines[19]  # the same event twice
    seen: list[int] = []
    result = client.events.send_ndjson(io.BytesIO("\n".join(lines).encode()), batch_size=8,
                                       on_batch=lambda r: seen.append(r.lines_done))
    assert (result.accepted, result.duplicate, result.rejected) == (27, 1, 2)
    assert [(r.line, r.code) for r in result.first_rejections] == [
        (5, "meter_event_no_customer_defined"), (10, "parameter_invalid_json")]
    assert seen == [8, 17, 25, 30]  # line 10 is no event: the second batch ends at 17
    now = int(time.time())
    usage = client.meters.usage(meter.id, start_time=(now - 3600) // 60 * 60,
                                end_time=(now // 60 + 2) * 60)
    assert [row.aggregated_value for row in usage.data] == [Decimal("2.7")]


def test_only_the_first_rejections_are_kept(client: Client) -> None:
    source = io.BytesIO(b"[]\n" * 50)
    result = client.events.send_ndjson(source)
    assert result.rejected == 50 and len(result.first_rejections) == 10
    assert [r.line for r in result.first_rejections] == list(range(1, 11))


def test_a_failed_batch_says_how_far_the_file_got(account_key: str,
                                                  fault_proxy: FaultProxy) -> None:
    fault_proxy.script = [FORWARD, FAIL_503, FAIL_503]
    seen: list[NdjsonResult] = []
    source = io.BytesIO(b"[]\n" * 5 + b'{"event_name": "x", "payload": {}}\n' * 5)
    client = Client(api_key=account_key, base_url=fault_proxy.url, max_retries=1)
    with client, pytest.raises(APIError):
        client.events.send_ndjson(source, batch_size=3, on_batch=seen.append)
    assert len(seen) == 1 and seen[0].lines_done == 8 and seen[0].rejected == 8
