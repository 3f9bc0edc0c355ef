from crew.service import run
from services.onboarding.decider import ONBOARDING
from services.onboarding.erasure import finish_forgetting

run(ONBOARDING, companions=[finish_forgetting])
