"""Experiments: deterministic assignment of recipients to variants and a holdout
(assignment.py), the statistics that compare them (stats.py) and the choice of a
winner (winner.py)."""
