"""Audit: what drives the score, overall and per account, for reviewers."""
