"""`python -m services.kiosk`: the kiosk HTTP server on CREW_HTTP_PORT (default 8080)."""

import contextlib
import sys

from crew import heap, logs, settings
from services.kiosk.server import server

config = settings.load()
logs.configure("kiosk", config.log_format)
kiosk = server(config, after_started=heap.freeze_startup)  # once it reached the bus
with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stopped cleanly, as uvicorn.run does
    kiosk.run()
if not kiosk.started:
    sys.exit(3)  # uvicorn's STARTUP_FAILURE: the supervisor restarts it
