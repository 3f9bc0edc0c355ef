"""One bounded context per folder: a pure decider and a thin FastStream app."""

import crew  # noqa: F401  # first: structlog without rich (crew/__init__.py)
