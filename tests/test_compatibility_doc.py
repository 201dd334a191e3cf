"""docs/compatibility.md lists every route of the server, and no route that does not exist."""

from __future__ import annotations

import re

from metered.api.openapi import fresh_router, route_table

from conftest import ROOT


def test_every_route_is_in_the_matrix() -> None:
    text = (ROOT / "docs" / "compatibility.md").read_text()
    listed = set(re.findall(r"`(GET|POST|DELETE) (/[^`]*)`", text))
    routes = set(route_table(fresh_router()))
    assert routes - listed == set(), "routes missing from docs/compatibility.md"
    assert listed - routes == set(), "docs/compatibility.md lists routes that do not exist"
