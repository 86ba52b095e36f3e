"""Baseline runners: RecBole sequential models and the like-rate/logistic floors."""
