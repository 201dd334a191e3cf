"""Object ids with Stripe's prefixes (cus_, mtr_, ...): prefix + 24 random base62 characters."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def random_token(length: int = 24) -> str:
    """`length` base62 characters (5.95 random bits each) from the OS CSPRNG."""
    n = int.from_bytes(secrets.token_bytes(length), "big")
    out = []
    for _ in range(length):
        n, digit = divmod(n, 62)
        out.append(_ALPHABET[digit])
    return "".join(out)


def new_id(prefix: str) -> str:
    return f"{prefix}_{random_token()}"
