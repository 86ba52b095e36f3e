"""Report: tables, statistics, plots and the published numbers beside them."""
