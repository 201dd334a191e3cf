"""The `metered` commands that work on the store directly (keys, accounts), while it serves."""

from __future__ import annotations

import httpx

from conftest import Server


def test_keys_and_accounts_work_while_serving(server: Server) -> None:
    test_key = server.new_key()
    live_key = server.new_key(live=True)
    other = server.new_account_key()
    assert test_key.startswith("sk_test_") and live_key.startswith("sk_live_")
    assert other.startswith("sk_test_")
    for key, livemode in ((test_key, False), (live_key, True), (other, False)):
        created = httpx.post(f"{server.base_url}/v1/customers", auth=(key, ""),
                             data={"name": "k"}).json()
        assert created["livemode"] is livemode
    # Keys are stored hashed: the secret itself is nowhere in the database file.
    assert test_key.encode() not in (server.data_dir / "metered.sqlite3").read_bytes()
