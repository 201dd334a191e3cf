"""The App's caches of authenticated keys and meter event sessions stay bounded, and a request
still authenticates after they were emptied."""

from __future__ import annotations

from pathlib import Path

import pytest

from metered.accounts import create_key
from metered.api import app as app_module
from metered.api.app import App
from metered.ingest.sessions import create_session

from engine_harness import Harness

pytestmark = pytest.mark.embedded_only  # in-process Harness (SQLite)


@pytest.fixture
def harness(tmp_path: Path):  # type: ignore[no-untyped-def]
    h = Harness(tmp_path / "data")
    yield h
    h.close()


def test_key_cache_is_bounded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "MAX_CACHED_CALLERS", 3)
    app = App(harness.engine, manage_engine=False)
    caller = harness.caller
    keys = [harness.run(lambda c: create_key(c, caller.account_pk)) for _ in range(7)]
    for _ in range(2):
        for key in keys:
            assert app.authenticate({"authorization": f"Bearer {key}"}) == caller
            assert len(app._callers) <= 3


def test_session_cache_is_bounded(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app_module, "MAX_CACHED_CALLERS", 3)
    app = App(harness.engine, manage_engine=False)
    caller = harness.caller
    tokens = [harness.run(lambda c: create_session(c, caller)).token for _ in range(7)]
    for _ in range(2):
        for token in tokens:
            assert app.authenticate_session({"authorization": f"Bearer {token}"}) == caller
            assert len(app.sessions) <= 3
