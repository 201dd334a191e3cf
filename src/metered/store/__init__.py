"""Storage: the schema (SQLAlchemy Core) and the embedded SQLite database.

Owns table definitions and connection set-up. Imports nothing of metered but errors.
Domain packages use the connections it opens; SQL specific to a domain lives with that domain.
"""

from metered.store.database import Database, open_database
from metered.store.schema import metadata

__all__ = ["Database", "metadata", "open_database"]
