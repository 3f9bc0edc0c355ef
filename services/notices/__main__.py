from crew import settings
from crew.service import run
from services.notices.app import companions
from services.notices.decider import NOTICES

config = settings.load()
run(NOTICES, companions(config), config)
