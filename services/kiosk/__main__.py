"""`python -m services.kiosk`: the kiosk HTTP server on CREW_HTTP_PORT (default 8080)."""

import os

import uvicorn

from crew import logs, settings
from services.kiosk.app import build_app

config = settings.load()
logs.configure("kiosk", config.log_format)
# X-Forwarded-For is believed only from these peers (comma-separated addresses of the TLS proxy
# in front, docs/operations.md); from anyone else it is ignored, so a guesser cannot pick a new
# address per try to dodge the rate limit. None by default (uvicorn's own default trusts
# 127.0.0.1, i.e. any local process).
trusted = os.environ.get("CREW_KIOSK_TRUSTED_PROXIES", "").strip()
uvicorn.run(
    build_app(config.nats_url),
    host=os.environ.get("CREW_HTTP_HOST", "0.0.0.0"),
    port=int(os.environ.get("CREW_HTTP_PORT", "8080")),
    proxy_headers=bool(trusted),
    forwarded_allow_ips=trusted or None,
    log_config=None,  # uvicorn's own loggers go through crew.logs: JSON lines like the rest
    log_level="warning",
    access_log=False,  # URLs and bodies stay out of the logs
    timeout_keep_alive=30,  # tablets keep their connection; fewer close-while-reused races
)
