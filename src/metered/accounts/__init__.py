"""Accounts and their secret keys: who a request is, and which mode (test or live) it acts in.

Owns the accounts and api_keys tables and key authentication. Imports store and errors only.
"""

from metered.accounts.keys import (
    Caller,
    authenticate_key,
    create_account,
    create_key,
    default_account_pk,
    hash_key,
    revoke_key,
    roll_key,
)

__all__ = [
    "Caller",
    "authenticate_key",
    "create_account",
    "create_key",
    "default_account_pk",
    "hash_key",
    "revoke_key",
    "roll_key",
]
