"""Probes without authentication: liveness (/healthz), readiness (/readyz) and Prometheus
metrics (/metrics, counts only: no tenant's data)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST

from metered.api.http import Request, Response

if TYPE_CHECKING:
    from metered.api.app import App


def register(app: App) -> None:
    async def healthz(request: Request) -> Response:
        return Response.json({"status": "ok"})

    async def readyz(request: Request) -> Response:
        """Ready when the store and the event log answer and the writer and the billing
        cycle run."""
        engine = app.engine
        checks: dict[str, str] = {}
        try:
            engine.reader().execute("SELECT value FROM engine_state LIMIT 1").fetchall()
            checks["store"] = "ok"
        except Exception as exc:  # the store's driver's error: sqlite3's or psycopg's
            checks["store"] = f"failed: {exc}"
        checks["writer"] = "ok" if engine.writer.failed is None else "failed"
        checks["log"] = engine.log_status()
        checks["billing"] = "ok" if app.billing_running() else "stopped"
        ready = all(value == "ok" for value in checks.values())
        return Response.json({"status": "ready" if ready else "not ready", "checks": checks},
                             status=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        body = app.engine.metrics.render(app.engine)
        return Response(200, body, [(b"content-type", CONTENT_TYPE_LATEST.encode())])

    app.router.add("GET", "/healthz", healthz, auth="none")
    app.router.add("GET", "/readyz", readyz, auth="none")
    app.router.add("GET", "/metrics", metrics, auth="none")
