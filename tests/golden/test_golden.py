"""Golden invoices: every scenario in tests/golden/scenarios, played on a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from golden.runner import SCENARIOS, play

from conftest import Server


@pytest.fixture
def fresh(server: Server) -> Iterator[httpx.Client]:
    with server.client(server.new_account_key()) as client:
        yield client


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_golden_invoice(fresh: httpx.Client, path: Path) -> None:
    play(fresh, path)


def test_there_are_forty_scenarios_or_more() -> None:
    assert len(list(SCENARIOS.glob("*.toml"))) >= 40
