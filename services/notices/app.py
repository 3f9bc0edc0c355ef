"""The notices service: the shared shell around the notices decider, with the reader of the
log that records and sends notices beside it (services/notices/at_work.py)."""

import functools

from crew.service import Companion, build_app, run
from crew.settings import Settings
from services.notices.at_work import notices_at_work
from services.notices.decider import NOTICES


def companions(config: Settings) -> tuple[Companion, ...]:
    at_work = functools.partial(notices_at_work, config=config)
    return (functools.update_wrapper(at_work, notices_at_work),)


__all__ = ["NOTICES", "build_app", "companions", "run"]
