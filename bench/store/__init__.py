"""Store: run records and score files, written atomically and verified on load."""
