from crew.service import run
from services.rota.app import COMPANIONS
from services.rota.decider import ROTA

run(ROTA, COMPANIONS)
