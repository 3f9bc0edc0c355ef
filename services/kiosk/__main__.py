"""`python -m services.kiosk`: the kiosk HTTP server on CREW_HTTP_PORT (default 8080)."""

import uvicorn

from crew import logs, settings
from services.kiosk.app import build_app

config = settings.load()
logs.configure("kiosk", config.log_format)
# X-Forwarded-For is believed only from these peers (comma-separated addresses of the TLS proxy
# in front, docs/operations.md); from anyone else it is ignored, so a guesser cannot pick a new
# address per try to dodge the rate limit. None by default (uvicorn's own default trusts
# 127.0.0.1, i.e. any local process).
trusted = config.kiosk_trusted_proxies.strip()
uvicorn.run(
    build_app(config),
    host=config.http_host,
    port=config.http_port,
    proxy_headers=bool(trusted),
    forwarded_allow_ips=trusted or None,
    log_config=None,  # uvicorn's own loggers go through crew.logs: JSON lines like the rest
    log_level="warning",
    access_log=False,  # URLs and bodies stay out of the logs
    timeout_keep_alive=30,  # tablets keep their connection; fewer close-while-reused races
)
