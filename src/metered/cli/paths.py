"""Where the embedded store lives: --data-dir, else $METERED_DATA_DIR, else the user data dir."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def resolve_data_dir(option: Path | None) -> Path:
    if option is not None:
        return option.expanduser().resolve()
    env = os.environ.get("METERED_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return Path(user_data_dir("metered", appauthor=False))
