"""`python -m house.together`: the house's contexts and its kiosk in one process (`crew up
--one-process`).

Each Python process costs about 50 MB before it does anything (docs/performance.md, "The whole
house at rest"), so a small house on a small machine runs its five contexts and the kiosk as
one. Nothing else changes: each keeps its own NATS user and connections (its URL comes in
CREW_NATS_URL_<CONTEXT>, the kiosk's in CREW_NATS_URL_KIOSK), its queue group, its companions
and its status answer. The projector stays apart: a rebuild would hold the contexts' commands
behind its folds. Compose and a cluster keep one process per component."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from crew import logs, settings
from crew.decider import Decider
from crew.service import Companion, Part, build_app, serve_together
from crew.urls import url_variable
from services.activities.decider import ACTIVITIES
from services.kiosk.server import KioskBeside
from services.meals.decider import MEALS
from services.meals.follows_rota import follow_rota
from services.notices import app as notices_app
from services.notices.decider import NOTICES
from services.onboarding.decider import ONBOARDING
from services.onboarding.erasure import finish_forgetting
from services.rota import app as rota_app
from services.rota.decider import ROTA

Parts = Callable[[settings.Settings], tuple[Decider[Any], Sequence[Companion]]]
CONTEXTS: dict[str, Parts] = {
    "meals": lambda config: (MEALS, (follow_rota,)),
    "rota": lambda config: (ROTA, rota_app.companions(config)),
    "onboarding": lambda config: (ONBOARDING, (finish_forgetting,)),
    "notices": lambda config: (NOTICES, notices_app.companions(config)),
    "activities": lambda config: (ACTIVITIES, ()),
}
KIOSK = "kiosk"  # beside the contexts, with its own NATS user


def main() -> None:
    base = settings.load()
    logs.configure("contexts", base.log_format)

    def config_of(name: str) -> settings.Settings:
        url = os.environ.get(url_variable(name), base.nats_url)
        return msgspec.structs.replace(base, nats_url=url)

    apps: list[Part] = []
    for context, parts in CONTEXTS.items():
        config = config_of(context)
        decider, companions = parts(config)
        apps.append(build_app(decider, config, companions))
    apps.append(KioskBeside(config_of(KIOSK)))
    asyncio.run(serve_together(apps))


if __name__ == "__main__":
    main()
