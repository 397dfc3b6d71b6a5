"""What the parts agree on: the deployment description (with SLO defaults) and the
recorder's time series. Imports nothing of ours, so every package may depend on it."""
