from crew.service import run
from services.meals.decider import MEALS
from services.meals.follows_rota import follow_rota

run(MEALS, (follow_rota,))
