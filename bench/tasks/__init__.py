"""Tasks: the runner protocols and each task's cells, run function and records."""
