"""Secret keys can be revoked and rolled from the command line while the server runs: the old
key is refused within the server's key cache (5 s); a rolled key's replacement works at once
on the same account and mode."""

from __future__ import annotations

import time

import httpx

from conftest import Server, metered_cli


def answers_401_soon(server: Server, key: str, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if httpx.get(f"{server.base_url}/v1/customers", auth=(key, "")).status_code == 401:
            return True
        time.sleep(0.25)
    return False


def test_revoke_and_roll(server: Server) -> None:
    key = server.new_account_key()
    with server.client(key) as http:
        customer = http.post("/v1/customers", data={"name": "k"}).json()["id"]
    new = metered_cli("keys", "roll", key, data_dir=server.data_dir)
    assert new.startswith("sk_test_") and new != key
    with server.client(new) as http:  # same account: its objects are there
        assert http.get(f"/v1/customers/{customer}").status_code == 200
    assert answers_401_soon(server, key)
    revoked = metered_cli("keys", "revoke", new, data_dir=server.data_dir)
    assert revoked.endswith(new[-4:])
    assert answers_401_soon(server, new)
