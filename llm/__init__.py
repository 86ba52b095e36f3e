"""LLM runners: model loading, the Yes/No scorer, in-context learning."""
