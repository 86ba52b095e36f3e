"""LLM runners (in-context learning, TALLRec LoRA rec-tuning, LLaRA): see issues 4 and 6."""
