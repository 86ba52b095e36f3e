"""Grid: cells from profiles, the local and Ray executors, locks, CI's check."""
