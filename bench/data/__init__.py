"""Data: sources, cards, builders, the splitter and the built-domain cache."""
