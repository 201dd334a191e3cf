"""Stripe's metadata: up to 50 string keys on most objects, changed key by key."""

from __future__ import annotations

from typing import Any

from metered.errors import invalid_param

# Stripe's limits (docs.stripe.com/metadata), on every object that has metadata.
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500


def check_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    """A `metadata` parameter as sent (an object of string or number values), checked against
    the limits; errors name `param` or `param[key]`."""
    if not isinstance(value, dict):
        raise invalid_param(param, "Invalid metadata: must be an object of string values.")
    if len(value) > MAX_METADATA_KEYS:
        raise invalid_param(param, f"Metadata can have at most {MAX_METADATA_KEYS} keys.")
    out: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not 0 < len(key) <= MAX_METADATA_KEY_LENGTH:
            raise invalid_param(f"{param}[{str(key)[:100]}]", "Metadata keys must be 1 to"
                                f" {MAX_METADATA_KEY_LENGTH} characters.")
        if isinstance(item, int | float) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE_LENGTH:
            raise invalid_param(f"{param}[{key}]", "Metadata values must be strings of at most"
                                f" {MAX_METADATA_VALUE_LENGTH} characters.")
        out[key] = item
    return out


def merge_metadata(current: dict[str, str], update: dict[str, str] | None,
                   provided: bool = True, *, param: str = "metadata") -> dict[str, str]:
    """Stripe's metadata update: key by key, an empty value deletes its key, and an empty
    `metadata` (provided, with no keys) deletes them all. The object keeps at most
    MAX_METADATA_KEYS keys: an update that would leave more is refused, naming `param`."""
    if update is None:
        return current
    merged = {} if not update and provided else dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    if len(merged) > MAX_METADATA_KEYS and len(merged) > len(current):
        raise invalid_param(param, f"Metadata can have at most {MAX_METADATA_KEYS} keys: this"
                            f" update would leave {len(merged)}.")
    return merged
