"""tallrec-bench: a benchmark suite for LLM-based recommendation (TALLRec, LLaRA)."""

__version__ = "0.6.0"
