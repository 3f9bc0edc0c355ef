"""Read models: folds of the event log into DuckDB, rebuildable at any time.

One process owns the DuckDB file (the projector); coordinator queries run on cursors of its
locked-down instance (the query service)."""

import crew  # noqa: F401  # first: structlog without rich (crew/__init__.py)
