"""`python -m services.kiosk`: the kiosk HTTP server on CREW_HTTP_PORT (default 8080)."""

import os

import uvicorn

from crew import logs, settings
from services.kiosk.app import build_app

config = settings.load()
logs.configure("kiosk", config.log_format)
uvicorn.run(
    build_app(config.nats_url),
    host=os.environ.get("CREW_HTTP_HOST", "0.0.0.0"),
    port=int(os.environ.get("CREW_HTTP_PORT", "8080")),
    log_level="warning",
    access_log=False,  # URLs and bodies stay out of the logs
    timeout_keep_alive=30,  # tablets keep their connection; fewer close-while-reused races
)
