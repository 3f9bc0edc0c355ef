from crew import settings
from crew.service import run
from services.rota.app import companions
from services.rota.decider import ROTA

config = settings.load()
run(ROTA, companions(config), config)
