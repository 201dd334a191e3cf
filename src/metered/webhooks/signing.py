"""The Stripe-Signature header: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.payload">`, keyed
with the endpoint's whole secret (`whsec_...`), as Stripe signs and its SDKs verify."""

from __future__ import annotations

import hashlib
import hmac
import time

DEFAULT_TOLERANCE = 300  # seconds, the SDKs' default


def _mac(payload: bytes, secret: str, timestamp: int) -> str:
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_payload(payload: bytes, secret: str, timestamp: int) -> str:
    """The header value for `payload` sent at `timestamp` (each attempt signs anew)."""
    return f"t={timestamp},v1={_mac(payload, secret, timestamp)}"


def verify_signature(payload: bytes, header: str, secret: str, *,
                     tolerance: int = DEFAULT_TOLERANCE, now: int | None = None) -> bool:
    """What a receiver checks: a v1 signature of the payload matches and its timestamp is
    within `tolerance` seconds of `now`."""
    parts = [item.partition("=") for item in header.split(",")]
    stamps = [value for key, _, value in parts if key == "t"]
    if len(stamps) != 1 or not stamps[0].isdigit():
        return False
    timestamp = int(stamps[0])
    if abs((int(time.time()) if now is None else now) - timestamp) > tolerance:
        return False
    expected = _mac(payload, secret, timestamp)
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, _, value in parts)
