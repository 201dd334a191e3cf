"""Stripe's metadata: up to 50 string keys on most objects, changed key by key."""

from __future__ import annotations


def merge_metadata(current: dict[str, str], update: dict[str, str] | None,
                   provided: bool = True) -> dict[str, str]:
    """Stripe's metadata update: key by key, an empty value deletes its key, and an empty
    `metadata` (provided, with no keys) deletes them all."""
    if update is None:
        return current
    merged = {} if not update and provided else dict(current)
    for key, value in update.items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
