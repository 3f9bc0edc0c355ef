"""The house: the entrypoints and operations around the kernel and the contexts.

The `crew` CLI, `crew up` (the house runner), the demo, backups, deploy files, the NATS users
and their permissions, and reading the log for export. Nothing below imports from here."""

import crew  # noqa: F401  # first: structlog without rich (crew/__init__.py)
