from lakemesh.cli import run

run()
