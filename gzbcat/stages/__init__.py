"""Stages: the only code that both computes (via the science core) and touches the database."""
