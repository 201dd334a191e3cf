"""The dashboard: a single page (static/index.html, app.js, app.css and Chart.js's distributed
file) that the server serves at /dashboard. The page asks for a secret key and reads the
JSON API with it; nothing here reads the store. Imports nothing of ours.

`STATIC_FILES` names every file served, with its content type: no other name is answered.
"""

from __future__ import annotations

from importlib.resources import files

STATIC_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "chart.umd.min.js": "text/javascript; charset=utf-8",  # Chart.js (MIT), dashboard/build.sh
}


def static_file(name: str) -> tuple[bytes, str] | None:
    """(content, content type) of a dashboard file, or None for a name not in STATIC_FILES."""
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        return None
    return files(__name__).joinpath("static", name).read_bytes(), content_type
