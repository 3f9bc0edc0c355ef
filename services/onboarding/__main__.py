from crew.service import run
from services.onboarding.decider import ONBOARDING

run(ONBOARDING)
