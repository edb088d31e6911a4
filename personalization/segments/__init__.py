"""Segments: rules (rules.py, conditions.py), membership that follows events
(services.py), reads (selectors.py), the segments Tailor ships (builtins.py) and
K-means clusters (clustering.py)."""
