"""Faults and probes for the local environment, driven through the controller's API."""
