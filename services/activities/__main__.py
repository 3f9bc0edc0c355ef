"""One-off activities and workshops, initiatives, and contributions of any kind."""

from crew.service import run
from services.activities.decider import ACTIVITIES

run(ACTIVITIES)
