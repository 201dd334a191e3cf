"""What goes over the wire: one API request, and JSON in both directions with exact decimals.

Answers decode straight into the typed models, and every JSON number that lands in an untyped
spot decodes as `Decimal`: no quantity ever passes through a float. Requests encode `Decimal` as
a JSON string, the form Stripe's API takes meter event values in.

A request is a plain value (no I/O), so the sync transport here and a later async one share it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")
ParamValue = str | int | Sequence[str]

JSON = "application/json"
_encoder = msgspec.json.Encoder()
_untyped = msgspec.json.Decoder(float_hook=Decimal)


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One call of the API. A POST gets its Idempotency-Key when it is built, so every retry of
    the call sends the same key and the same bytes."""

    method: str
    path: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str | None = None
    idempotency_key: str | None = None

    @classmethod
    def get(cls, path: str, params: Mapping[str, ParamValue | None] | None = None) -> ApiRequest:
        return cls("GET", path, params=_present(params or {}))

    @classmethod
    def delete(cls, path: str) -> ApiRequest:
        return cls("DELETE", path)

    @classmethod
    def post(cls, path: str, body: Any = None, *, content_type: str = JSON,
             idempotency_key: str | None = None) -> ApiRequest:
        """`body` is encoded as JSON unless it is already bytes."""
        content = body if isinstance(body, bytes) else encode_json(body or {})
        return cls("POST", path, body=content, content_type=content_type,
                   idempotency_key=idempotency_key or str(uuid.uuid4()))

    def headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        if self.idempotency_key is not None:
            headers["Idempotency-Key"] = self.idempotency_key
        return headers


def encode_json(obj: Any) -> bytes:
    return _encoder.encode(obj)


def decode_answer(content: bytes, answer: type[T]) -> T:
    """Decode a 2xx body into `answer`; raises msgspec.DecodeError or ValidationError."""
    return _decoder(answer).decode(content)


def decode_untyped(content: bytes) -> Any:
    """Decode any JSON (an error body, say), with numbers as int or Decimal."""
    return _untyped.decode(content)


@lru_cache(maxsize=64)
def _decoder(answer: Any) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(answer, float_hook=Decimal)


def _present(params: Mapping[str, ParamValue | None]) -> dict[str, ParamValue]:
    """Drop absent parameters (None, empty lists); lists go out as Stripe's `key[]`."""
    out: dict[str, ParamValue] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Sequence) and not isinstance(value, str):
            if value:
                out[f"{key}[]"] = list(value)
        else:
            out[key] = value
    return out
