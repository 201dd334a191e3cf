"""The reference app: the same HTTP stack as metered, answering the same requests after parsing.

Served by uvicorn with uvloop and httptools in one process, like `metered serve`
(see harness.start_ceiling). A batch is decoded with msgspec and answered with the counts and a
per-event result list of the same shape and size as metered's; a single event (form-encoded) is
parsed and echoed. No authentication, validation or storage: this is the most a Python server
on this stack can do with these requests, and metered's rate divided by it is the figure to
watch. Any other path (e.g. /healthz) answers a small JSON object.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import msgspec

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    path = scope["path"]
    if path == "/v1/metered/events/batch":
        events = _decode(body)
        answer = _encode({
            "object": "metered.event_batch", "accepted": len(events), "duplicate": 0,
            "rejected": 0,
            "results": [{"index": i, "identifier": e.get("identifier"), "status": "accepted"}
                        for i, e in enumerate(events)],
        })
    elif path == "/v1/billing/meter_events":
        answer = _encode({"object": "billing.meter_event", "livemode": False,
                          **dict(parse_qsl(body.decode()))})
    else:
        answer = b'{"status":"ok"}'
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
