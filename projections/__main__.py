from projections.app import run

run()
