"""The `metered` commands that work on the store directly (keys, accounts), while it serves."""

from __future__ import annotations

import distributed_mode
import httpx

from metered.store import postgres

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
    assert test_key.encode() not in stored_keys(server)


def stored_keys(server: Server) -> bytes:
    """The embedded store's file, or the PostgreSQL store's api_keys rows."""
    if not distributed_mode.ENABLED:
        return (server.data_dir / "metered.sqlite3").read_bytes()
    conn = postgres.connect(distributed_mode.store_env(server.data_dir)["METERED_STORE"])
    try:
        rows = conn.execute("SELECT * FROM api_keys").fetchall()
    finally:
        conn.close()
    return repr(rows).encode()
