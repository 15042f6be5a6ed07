"""Scoring: calibrated heads combined into expected engagement, mapped onto 1-100."""
