"""NATS URLs: which servers, which inbox, which credentials. Every component connects with
`nats.connect(**urls.connection(url))`; each user reads replies only on its own inboxes."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from crew import settings


def inbox_prefix_of(user: str | None) -> str:
    """Each user reads replies only on its own inboxes, so no one can read another's answers."""
    return f"_INBOX_{user}" if user and user != "house" else "_INBOX"


def inbox_prefix(url: str) -> str:
    """The inbox prefix for whoever this URL (or the first of a list) logs in as."""
    return inbox_prefix_of(urlsplit(url.split(",")[0].strip()).username)


def connection(url: str) -> dict[str, Any]:
    """`nats.connect(**connection(url))`: the servers of the URL list, and the inbox its user
    may subscribe to."""
    return {"servers": settings.servers(url), "inbox_prefix": inbox_prefix(url)}


def with_credentials(urls: str, user: str, password: str) -> str:
    """`nats://h:p,nats://h2:p2` -> the same list, each with `user:password@`."""
    out = []
    for url in urls.split(","):
        parts = urlsplit(url.strip())
        host = parts.netloc.rsplit("@", 1)[-1]
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        out.append(urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)))
    return ",".join(out)


def without_credentials(urls: str) -> str:
    """For printing: never show a password."""
    return ",".join(
        urlunsplit(p._replace(netloc=p.netloc.rsplit("@", 1)[-1]))
        for p in (urlsplit(u.strip()) for u in urls.split(","))
    )


def url_variable(context: str) -> str:
    """Where `crew up --one-process` gives each context its own NATS URL (house/together.py)."""
    return f"CREW_NATS_URL_{context.upper()}"
