"""Recommendations: interactions from events (interactions.py), ALS training with a
holdout and an activation guard (training.py), ranking metrics (metrics.py), and
serving with cold start, filters, explanations and real-time refresh (serving.py)."""
