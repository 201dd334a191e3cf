"""The reference: the same HTTP stack as metered, answering the same batches after only parsing.

Served by uvicorn with uvloop and httptools in one process, like `metered serve`. It decodes the
JSON (or form) body and answers a per-event result list of the same shape, and does nothing else:
no validation, no storage. metered's rate divided by this one is the figure to watch.
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
    if scope["path"] == "/v1/metered/events/batch":
        events = _decode(body)
        answer = _encode({"object": "metered.event_batch", "accepted": len(events),
                          "duplicate": 0, "rejected": 0, "results": [
                              {"index": i, "identifier": e.get("identifier"),
                               "status": "accepted"} for i, e in enumerate(events)]})
    else:
        parsed = dict(parse_qsl(body.decode()))
        answer = _encode({"object": "billing.meter_event", "parsed": parsed})
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
