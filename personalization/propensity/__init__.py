"""Purchase and churn propensity: features as of a cutoff (features.py) and XGBoost
training, judged on the next window against a recency-frequency baseline, with the
scores it writes (training.py)."""
