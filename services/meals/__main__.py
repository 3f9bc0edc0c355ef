from crew.service import run
from services.meals.decider import MEALS

run(MEALS)
