"""The optional native extension (native/, `metered_native`), or None when it is not installed.

Every module with a native fast path imports it from here and keeps its Python path, which is
the reference: with None, metered works the same, slower.
"""

from __future__ import annotations

from types import ModuleType

extension: ModuleType | None
try:
    import metered_native as extension
except ImportError:  # pragma: no cover - built by `make install` when cargo is available
    extension = None
