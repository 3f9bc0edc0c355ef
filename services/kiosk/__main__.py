"""`python -m services.kiosk`: the kiosk HTTP server on CREW_HTTP_PORT (default 8080)."""

import contextlib
import sys

from crew import logs, settings
from services.kiosk.server import server

config = settings.load()
logs.configure("kiosk", config.log_format)
kiosk = server(config)
with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: stopped cleanly, as uvicorn.run does
    kiosk.run()
if not kiosk.started:
    sys.exit(3)  # uvicorn's STARTUP_FAILURE: the supervisor restarts it
