"""The shared kernel: event store on JetStream, the command shell, settings, logging, the CLI.

structlog draws exceptions with `rich` when it can import it (litestar brings it along), and
`rich` costs every process about 8 MB of memory at rest. crew formats exceptions itself
(crew.logs), so structlog is loaded here without it; `rich` stays importable for whoever
asks for it later. Every package of the house imports this first (its `__init__`).

It also puts a faster parser of NATS headers in place of nats-py's own (crew/nats_headers.py).
"""

import sys

if "structlog" not in sys.modules and "rich" not in sys.modules:
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` fails: not drawn
    try:
        import structlog.dev
        import structlog.tracebacks  # noqa: F401
    finally:
        del sys.modules["rich"]

from crew import nats_headers  # after structlog, as above

nats_headers.install()  # headers parsed about 3x faster in every process of the house
