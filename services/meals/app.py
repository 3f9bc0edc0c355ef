"""The meals service: the shared shell around the meals decider."""

from crew.service import build_app, run
from services.meals.decider import MEALS

__all__ = ["MEALS", "build_app", "run"]
